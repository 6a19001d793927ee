from retriever.flow import Pipeline

pipe = Pipeline("runs")
pipe.run(duration=1.0)

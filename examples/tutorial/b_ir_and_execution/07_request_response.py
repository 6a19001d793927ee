"""Request/response between flows: a client asks, a server answers, the client matches
answers to its requests by id.

Run: ``python -m examples.tutorial.b_ir_and_execution.07_request_response``
"""

from __future__ import annotations

from retriever.flow import Flow, Latest, Pipeline, Rate, Trigger, io


@io
class Request:
    """A question with an id."""

    request_id: int
    x: float


@io
class Response:
    """An answer to the request with the same id."""

    request_id: int
    y: float


class Client(Flow[Response, Request]):
    """Sends a request every step; records the answers it gets back."""

    def reset(self) -> None:
        self.next_id = 0
        self.pending: dict[int, float] = {}
        self.answered: list[tuple[int, float, float]] = []

    def step(self, input: Response) -> Request:
        if input.request_id is not None and input.request_id in self.pending:
            x = self.pending.pop(input.request_id)
            self.answered.append((input.request_id, x, input.y or 0.0))
            print(f"    client: request {input.request_id} x={x} -> y={input.y}")
        self.next_id += 1
        self.pending[self.next_id] = float(self.next_id)
        return Request(request_id=self.next_id, x=float(self.next_id))


class Server(Flow[Request, Response]):
    """Squares x, on every request that arrives."""

    def step(self, input: Request) -> Response:
        return Response(request_id=input.request_id, y=(input.x or 0.0) ** 2)


def build() -> Pipeline:
    """A loop: client -> server -> client."""
    pipe = Pipeline("request-response")
    client = Client() @ Rate(hz=10)
    server = Server() @ Trigger("request_id", "x")
    pipe.connect(client, server, sync=Latest())
    pipe.connect(server, client, sync=Latest())
    return pipe


def main() -> None:
    """Step; each answer arrives one step after its request."""
    pipe = build()
    for _ in range(5):
        pipe.step(dt=0.1)
    pipe.close_stepper()


if __name__ == "__main__":
    main()

"""The HTTP playground: httpbin's endpoints under /server/."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

bp = Blueprint("server", __name__, url_prefix="/server")


def _request_info() -> dict:
    return {
        "args": request.args.to_dict(),
        "headers": dict(request.headers),
        "origin": request.remote_addr,
        "url": request.url,
    }


@bp.get("/get")
def get() -> Response:
    """Echo the request's query, headers, origin and URL."""
    return jsonify(_request_info())


@bp.route("/status/<codes>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def status(codes: str) -> Response:
    """Answer with the status code asked for."""
    return Response(status=int(codes))

"""Engine.IO, websocket and Redis pub/sub internals under the Socket.IO server."""

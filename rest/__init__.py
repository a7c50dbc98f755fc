"""Starlette REST surface: thin routes over the `hugmood` domain."""

"""An items service: FastAPI routes over a SQLAlchemy session per request."""

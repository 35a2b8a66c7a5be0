"""The API fixtures of tests/gql (the app on the run's database, an in-process client)."""

from tests.gql.conftest import app, client  # noqa: F401 - re-exported fixtures

"""Fixtures shared by the integration tests."""
import pytest

from tests.eslpeer.broker import BrokerQueue


@pytest.fixture
def broker(settings):
    """The Celery broker's events queue, emptied before and after the test (read raw)."""
    q = BrokerQueue(settings.celery_broker_url)
    q.purge()
    yield q
    q.purge()

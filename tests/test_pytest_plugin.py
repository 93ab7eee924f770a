"""The fake_telnyx fixture, as a user's test suite sees it (through the pytest11 entry point)."""

from __future__ import annotations

import pytest


def test_fixture_serves_a_users_async_and_sync_tests(pytester: pytest.Pytester) -> None:
    """A user's tests get a running fake, with the env pointing a plain TelnyxSession() at it."""
    pytester.makepyfile(
        """
        import os
        import pytest
        from telnyx_async import NotFoundError, TelnyxSession
        from telnyx_async.testing import Faults

        async def test_lookup(fake_telnyx):
            async with TelnyxSession() as telnyx:
                conn = await telnyx.connections.get(fake_telnyx.ids[0])
                assert conn == fake_telnyx.connections[fake_telnyx.ids[0]]
                with pytest.raises(NotFoundError):
                    await telnyx.connections.get("0")

        async def test_faults(fake_telnyx):
            fake_telnyx.faults = Faults(error_rate=1.0)
            async with TelnyxSession(max_retries=0) as telnyx:
                with pytest.raises(Exception) as info:
                    await telnyx.connections.get(fake_telnyx.ids[0])
            assert info.value.status >= 500

        def test_sync(fake_telnyx):
            assert os.environ["TELNYX_BASE_URL"] == fake_telnyx.base_url
            assert len(fake_telnyx.ids) == 1000
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=3)


def test_tls_fixture_serves_https_with_its_own_authority(pytester: pytest.Pytester) -> None:
    """fake_telnyx_tls: an https:// base URL, trusted through the context it hands out only."""
    pytester.makepyfile(
        """
        import os
        import pytest
        from telnyx_async import TelnyxSession, TLSError

        async def test_trusted(fake_telnyx_tls):
            assert os.environ["TELNYX_BASE_URL"].startswith("https://127.0.0.1:")
            ssl = fake_telnyx_tls.client_ssl_context()
            async with TelnyxSession(ssl=ssl) as telnyx:
                conn = await telnyx.connections.get(fake_telnyx_tls.ids[0])
            assert conn == fake_telnyx_tls.connections[fake_telnyx_tls.ids[0]]

        async def test_untrusted(fake_telnyx_tls):
            async with TelnyxSession(max_retries=0) as telnyx:
                with pytest.raises(TLSError, match="certificate verify failed"):
                    await telnyx.connections.get(fake_telnyx_tls.ids[0])

        def test_ca_pem(fake_telnyx_tls):
            assert fake_telnyx_tls.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=3)


def test_every_test_of_this_suite_is_bounded_in_time(request: pytest.FixtureRequest) -> None:
    """pytest-timeout is on with a finite bound: a hanging test fails instead of stalling CI."""
    assert request.config.pluginmanager.has_plugin("timeout")
    assert 0 < float(request.config.getini("timeout")) <= 600

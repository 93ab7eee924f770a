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

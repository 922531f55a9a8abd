"""The committed Phase 2 exports are what their generators write today (`--check`), so a change
to a generator that is not followed by a regeneration fails here, not in a later review."""

from __future__ import annotations

import pytest

from tests.data import generate_phase2_logs, generate_realapp_logs


@pytest.mark.parametrize("generator", [generate_phase2_logs, generate_realapp_logs])
def test_the_committed_exports_are_up_to_date(generator, capsys):
    assert generator.main(["--check"]) == 0, capsys.readouterr().err

"""Reading BuildKit's plain progress log (bench/_registry.step_cached) and the bench's
requirements-change goal: the figures the cold-deploy bench prints rest on them."""

from __future__ import annotations

import pytest

from bench._registry import step_cached
from bench.cold_deploy import _rebuilt_from_requirements

D = "0" * 64
LOG = f"""\
#7 [stage-0 2/8] RUN useradd --system app
#7 CACHED

#8 [stage-0 3/8] RUN --mount=type=cache,target=/root/.cache/pip pip install --index-url x torch
#8 sha256:{D} 15.73MB / 229.24MB 0.2s
#8 extracting sha256:{D} 5.4s done
#8 DONE 7.0s

#9 [stage-0 4/8] RUN pip install -r /tmp/requirements.txt
#9 0.442 Looking in indexes: http://127.0.0.1:1/simple
#9 DONE 30.1s

#10 [stage-0 5/8] RUN true
#10 DONE 0.1s
"""


def test_a_step_is_reused_when_cached_or_when_its_cached_layers_were_loaded():
    assert step_cached(LOG, "useradd --system")  # CACHED
    # loaded for the step after it: downloaded and extracted, no process output of its own
    assert step_cached(LOG, "--index-url x torch")
    assert not step_cached(LOG, "install -r /tmp/requirements.txt")  # it ran: output
    assert not step_cached(LOG, "RUN true")  # ran, printing nothing


def test_a_step_the_log_does_not_name_is_an_error_not_a_pass():
    with pytest.raises(AssertionError, match="no step containing"):
        step_cached(LOG, "COPY app/ /app/")


def test_the_requirements_goal_wants_reuse_before_and_rebuilds_from_the_requirements_on():
    steps = {"system": True, "CPU torch": True, "requirements (pip)": False, "model": False,
             "entry point": False, "source": False}  # fmt: skip
    assert _rebuilt_from_requirements(steps)
    assert not _rebuilt_from_requirements({**steps, "CPU torch": False})
    assert not _rebuilt_from_requirements({**steps, "requirements (pip)": True})
    linked = {**steps, "entry point": True, "source": True}
    assert not _rebuilt_from_requirements(linked)  # a plain COPY must be rebuilt
    assert _rebuilt_from_requirements(linked, ("entry point", "source"))  # a linked one need not
    assert not _rebuilt_from_requirements({**linked, "model": True}, ("entry point", "source"))

"""The generated project's CI workflow: what only the contract decides (the profile's variables).

The workflow itself, ``.github/workflows/ci.yml``, is a template file whose one step runs the
commands of the generated README's "Set it up" block (tests/project/test_ci.py checks they are the
same). dbt reads the profile's variables even to parse, so the job's ``env`` passes each one the
profile needs: credentials from the repository's Actions secrets, settings from its variables,
both under the variable's own name. The mapping is rendered as JSON, which YAML reads as a flow
mapping, so no YAML is glued from strings.
"""

from __future__ import annotations

import json

from floe_scaffold.profiles import BuiltProfile

__all__ = ["ci_env_json"]


def ci_env_json(profile: BuiltProfile) -> str:
    """The job's ``env`` as JSON: every required variable from a GitHub secret or variable.

    Optional variables are left out: an unset GitHub variable would reach dbt as an empty string
    and override the profile's default.
    """
    env = {
        var.name: "${{ %s.%s }}" % ("secrets" if var.secret else "vars", var.name)  # noqa: UP031 - braces are GitHub's
        for _, var in profile.env_vars
        if var.required
    }
    return json.dumps(dict(sorted(env.items())))

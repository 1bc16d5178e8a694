"""The generated project's CI workflow: what only the contract decides (the profile's variables).

The workflow itself, ``.github/workflows/ci.yml``, is a template file whose one step runs the
commands of the generated README's "Set it up" block (tests/project/test_ci.py checks they are the
same). dbt reads the profile's variables even to parse, so the job's ``env`` passes each one the
profile needs: credentials from the repository's Actions secrets, settings from its variables,
both under the variable's own name. pip's own index variables come from the repository's
variables too (the generated README documents them), so a project can install floe-scaffold from a
private index or a folder of wheels. The mapping is rendered as JSON, which YAML reads as a flow
mapping, so no YAML is glued from strings.
"""

from __future__ import annotations

import json

from floe_scaffold.profiles import BuiltProfile

__all__ = ["PIP_ENV", "ci_env_json"]

#: Where pip looks for packages, from the repository's variables. An unset variable is an empty
#: string in GitHub's expressions: PyPI's index then, and no extra links (pip splits the empty
#: PIP_FIND_LINKS into no entry).
PIP_ENV = {
    "PIP_INDEX_URL": "${{ vars.PIP_INDEX_URL || 'https://pypi.org/simple' }}",
    "PIP_FIND_LINKS": "${{ vars.PIP_FIND_LINKS }}",
}


def ci_env_json(profile: BuiltProfile) -> str:
    """The job's ``env`` as JSON: every required variable from a GitHub secret or variable.

    Optional variables are left out: an unset GitHub variable would reach dbt as an empty string
    and override the profile's default. pip's index variables (:data:`PIP_ENV`) come first.
    """
    env = {
        var.name: "${{ %s.%s }}" % ("secrets" if var.secret else "vars", var.name)  # noqa: UP031 - braces are GitHub's
        for _, var in profile.env_vars
        if var.required
    }
    return json.dumps(PIP_ENV | dict(sorted(env.items())))

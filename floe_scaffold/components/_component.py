"""The floe Dagster component: every dbt model and seed of a project as a Software-Defined Asset.

Named in a generated project's ``defs.yaml``::

    type: floe_scaffold.components.FloeDbtProject
    attributes:
      dbt_project: dbt
      profiles_dir: .floe/profiles
      target: dev

It builds on dagster-dbt (``DbtProject``, ``@dbt_assets``, ``DbtCliResource``): asset
dependencies are dbt's DAG (ephemeral models are resolved through, not materialized), dbt data
tests become asset checks, and dbt's events stream into the Dagster event log. Paths are
relative to the project root (the folder holding ``pyproject.toml``).
"""

# No `from __future__ import annotations`: Dagster inspects the asset function's `context`
# annotation at runtime and needs the real class, not a string.

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import yaml
from dagster import AssetExecutionContext
from dagster_dbt import DbtProject
from pydantic import Field, field_validator

from floe_scaffold._bounded import read_config_text
from floe_scaffold._profile_vars import MissingCredentialsError, missing_variables, resolve_output
from floe_scaffold.components._assets import dbt_multi_asset, paused_gc
from floe_scaffold.components._automation import (
    AutomationSettings,
    ScheduleSettings,
    build_schedules,
    with_automation,
)
from floe_scaffold.components._dbt_step import DbtRunConfig, dbt_stages, run_args
from floe_scaffold.components._executor import floe_executor_for
from floe_scaffold.components._freshness import (
    CHECK_NAME,
    FreshnessSettings,
    freshness_check_specs,
    freshness_checks,
    freshness_sources,
)
from floe_scaffold.components._keys import TranslationSettings
from floe_scaffold.components._lazy_manifest import ManifestSource
from floe_scaffold.components._local_files import ensure_duckdb_folder
from floe_scaffold.components._manifest import (
    DBT_RUN_FLAGS,
    PrepareMode,
    check_acyclic,
    dbt_executable,
    ensure_manifest,
)
from floe_scaffold.components._resource import FloeDbtCliResource
from floe_scaffold.components._source_assets import source_asset_specs
from floe_scaffold.components._table_metadata import (
    TableMetadataSettings,
    TableMetadataSource,
    freshness_results,
    with_table_metadata,
)
from floe_scaffold.components._translator import FloeTranslator
from floe_scaffold.contract import CompiledArtifacts, load_artifacts
from floe_scaffold.errors import EXIT_INVALID_INPUT, FloeError
from floe_scaffold.lineage import LineageTarget, resolve_lineage
from floe_scaffold.lineage._dagster_run import DagsterRunLineage
from floe_scaffold.tracing import MetricsTarget, TracingTarget, resolve_metrics, resolve_tracing

__all__ = [
    "ComponentAttributeError",
    "FloeDbtProject",
    "LineageSettings",
    "MetricsSettings",
    "TableMetadataSettings",
    "TracingSettings",
]


class ComponentAttributeError(FloeError):
    """An attribute of the component's ``defs.yaml`` cannot be used; the message names it."""

    exit_code = EXIT_INVALID_INPUT

    def __init__(self, attribute: str, problem: str) -> None:
        super().__init__(f"attributes.{attribute}: {problem}")
        self.attribute = attribute


def _seconds(value: float) -> float:
    """A timeout of more than 0 and at most 30 seconds (a longer one could hold a run)."""
    if not 0 < value <= 30:
        raise ValueError(f"{value} s is out of range: a timeout is more than 0 and at most 30 s")
    return value


class LineageSettings(dg.Model):
    """Overrides of the contract's lineage settings (unset: the contract and OPENLINEAGE_*)."""

    enabled: bool | None = Field(default=None, description="Emit OpenLineage events.")
    endpoint: str | None = Field(default=None, description="OpenLineage HTTP endpoint.")
    namespace: str | None = Field(default=None, description="OpenLineage job namespace.")
    timeout: float = Field(default=2.0, description="HTTP timeout in seconds (0-30).")

    @field_validator("timeout")
    @classmethod
    def check_timeout(cls, value: float) -> float:
        return _seconds(value)


class TracingSettings(dg.Model):
    """Overrides of the contract's tracing settings (unset: the contract and OTEL_*)."""

    enabled: bool | None = Field(default=None, description="Make OpenTelemetry spans.")
    endpoint: str | None = Field(default=None, description="OTLP endpoint (gRPC or HTTP).")
    protocol: Literal["grpc", "http/protobuf"] | None = Field(
        default=None, description="`grpc` or `http/protobuf`."
    )
    timeout: float | None = Field(default=None, description="Export timeout in seconds (0-30).")

    @field_validator("timeout")
    @classmethod
    def check_timeout(cls, value: float | None) -> float | None:
        return None if value is None else _seconds(value)


class MetricsSettings(dg.Model):
    """Overrides of the contract's metrics settings (unset: the contract and OTEL_*)."""

    enabled: bool | None = Field(default=None, description="Record OpenTelemetry metrics.")
    endpoint: str | None = Field(default=None, description="OTLP endpoint (gRPC or HTTP).")
    protocol: Literal["grpc", "http/protobuf"] | None = Field(
        default=None, description="`grpc` or `http/protobuf`."
    )
    timeout: float | None = Field(default=None, description="Export timeout in seconds (0-30).")
    temporality: Literal["delta", "cumulative"] | None = Field(
        default=None, description="`delta` (the default: one export per run) or `cumulative`."
    )

    @field_validator("timeout")
    @classmethod
    def check_timeout(cls, value: float | None) -> float | None:
        return None if value is None else _seconds(value)


class FloeDbtProject(dg.Component, dg.Model, dg.Resolvable):
    """A dbt project, run by dbt build, as Dagster assets with floe's profiles and metadata."""

    dbt_project: str = Field(
        default="dbt", description="The dbt project directory, relative to the project root."
    )
    profiles_dir: str = Field(
        default=".floe/profiles",
        description="Directory of the generated profiles.yml, relative to the project root.",
    )
    target: str | None = Field(default=None, description="dbt target (environment) to run.")
    profile: str | None = Field(default=None, description="dbt profile name, if not the project's.")
    artifacts: str | None = Field(
        default=".floe/compiled_artifacts.json",
        description="The CompiledArtifacts contract, for column classifications.",
    )
    select: str = Field(default="fqn:*", description="dbt selection of the nodes to load.")
    exclude: str = Field(default="", description="dbt selection of nodes to leave out.")
    prepare: PrepareMode = Field(
        default="auto",
        description="When to run `dbt parse`: `auto` if the manifest is missing or stale (a "
        "file of the dbt project or the profile's target changed since it was parsed), `always`, "
        "or `never` (a missing or stale manifest is then an error naming the command).",
    )
    cli_args: list[str] = Field(
        default_factory=lambda: ["build"], description="dbt command run on materialization."
    )
    lineage: LineageSettings = Field(
        default_factory=LineageSettings,
        description="OpenLineage: overrides of the contract's observability.lineage settings.",
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings,
        description="OpenTelemetry: overrides of the contract's observability.traces settings.",
    )
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings,
        description="OpenTelemetry: overrides of the contract's observability.metrics settings.",
    )
    schedules: list[ScheduleSettings] = Field(
        default_factory=list,
        description="Schedules of dbt assets: each a name, a cron, a timezone and a dbt selection.",
    )
    column_lineage: bool = Field(
        default=True,
        description="Read each model's and snapshot's column lineage from the SQL dbt compiled "
        "(sqlglot): the columnLineage facet of its OpenLineage COMPLETE event and "
        "dagster/column_lineage on its materialization (see floe_scaffold/_column_lineage.py).",
    )
    table_metadata: TableMetadataSettings = Field(
        default_factory=TableMetadataSettings,
        description="Ask the warehouse for row counts and column types of the relations built "
        "(on by default; one bounded round of queries after dbt, as observations: see "
        "components/_table_metadata.py).",
    )
    translation: TranslationSettings = Field(
        default_factory=TranslationSettings,
        description="How dbt nodes become asset keys: `key: default` (dagster-dbt's, "
        "`<schema>/<model>` when a schema is configured) or `key: name` (the model's name, the "
        "same in every environment).",
    )
    automation: AutomationSettings | None = Field(
        default=None,
        description="An automation condition for every dbt asset: `eager`, `on_cron` (with "
        "`cron`) or `on_missing`.",
    )
    freshness: FreshnessSettings = Field(
        default_factory=FreshnessSettings,
        description="What a dbt source past its `error_after` does to the run: "
        "`fail_run_on_error: true` fails it (`floe run` exits 1); by default it is reported.",
    )
    executor: Literal["auto", "dagster"] = Field(
        default="auto",
        description="How a run's steps run: `auto` runs a chain of steps (a dbt project) in the "
        "run's own process and gives steps that can run side by side a process each; `dagster` "
        "leaves it to Dagster (a process per step, or the executor your own definitions set).",
    )

    @field_validator("schedules")
    @classmethod
    def check_schedule_names(cls, value: list[ScheduleSettings]) -> list[ScheduleSettings]:
        names = [schedule.name for schedule in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"schedule names must differ; {', '.join(twice)} is used twice")
        return value

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        with paused_gc():  # see components/_assets.py: no GC pauses, the result frozen after
            return self._build_defs(context)

    def _build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = Path(context.project_root)
        project_dir = (root / self.dbt_project).resolve()
        profiles_dir = (root / self.profiles_dir).resolve()
        if not (project_dir / "dbt_project.yml").is_file():
            # Checked before `dbt parse`, which would otherwise run (and log) in any directory.
            raise ComponentAttributeError(
                "dbt_project",
                f"{self.dbt_project!r} is not a dbt project: {project_dir} has no "
                f"dbt_project.yml (the path is relative to the project root {root})",
            )
        manifest_path = ensure_manifest(
            project_dir, profiles_dir, target=self.target, profile=self.profile, mode=self.prepare
        )
        # Parsed only when needed: a warm spec cache needs none at load (_lazy_manifest.py).
        manifest_source = ManifestSource(manifest_path)
        project = DbtProject(
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            target=self.target,
            profile=self.profile,
        )
        contract = self._contract(root)
        classifications = _classifications(contract)
        translator = self.translator(classifications)
        lineage = self._lineage_target(root, contract)
        tracing = self._tracing_target(root, contract)
        metrics = self._metrics_target(contract, tracing.resource)
        profile_output = _profile_output(profiles_dir, self.profile, self.target, project_dir)
        ensure_duckdb_folder(profile_output, project_dir)
        resource = FloeDbtCliResource(
            project_dir=str(project_dir),
            profiles_dir=str(profiles_dir),
            target=self.target,
            profile=self.profile,
            dbt_executable=dbt_executable(),
            global_config_flags=list(DBT_RUN_FLAGS),
        )
        cli_args = list(self.cli_args)
        table_metadata = self.table_metadata
        read_columns = self.column_lineage
        metadata_source = TableMetadataSource(project_dir, profiles_dir, self.profile, self.target)
        # The variables dbt's profile output reads, checked where the run happens (a UI-launched
        # run, a schedule, a Kubernetes run worker), as `floe run` checks before it starts.
        reads = resolve_output(
            project_dir, profiles_dir / "profiles.yml", self.profile, self.target
        )

        def _dbt_assets(context: AssetExecutionContext, config: DbtRunConfig) -> Iterator[Any]:
            missing = missing_variables(reads, os.environ) if reads is not None else []
            if missing:  # not dbt's failed login with a password it could not render
                error = MissingCredentialsError(missing)
                raise dg.Failure(description="\n".join(error.lines()), allow_retries=False)
            # Loaded when a run starts, not when definitions load (the OpenLineage client alone
            # costs a quarter of a second to import).
            from floe_scaffold.components._observe import observed_stream
            from floe_scaffold.lineage._recorder import DagsterRun, LineageRecorder
            from floe_scaffold.tracing import SpanRecorder

            manifest = manifest_source.get()
            # One dbt invocation, or one per stage when a source reads what the run makes
            # (components/_dbt_step.py); each observed as its own dbt command.
            stages = dbt_stages(
                context,
                resource=resource,
                args=run_args(cli_args, config),
                manifest=manifest,
                translator=translator,
                project=project,
                exclude=config.exclude,
            )
            command = cli_args[0] if cli_args else "build"
            adapter_type = str(manifest.get("metadata", {}).get("adapter_type", ""))
            # One per run: a later stage reads what an earlier one built.
            columns = _column_tracker(read_columns, manifest, project_dir, manifest_path.parent)

            def observed(invocation: Any) -> Iterator[Any]:
                recorder = None
                if lineage.enabled:
                    recorder = LineageRecorder(
                        target=lineage,
                        manifest=manifest,
                        profile_output=profile_output,
                        dbt_project_dir=project_dir,
                        command=command,
                        dagster_run=DagsterRun(context.run.run_id, context.run.job_name),
                        classifications=classifications,
                        columns=columns,
                    )
                spans = None
                if tracing.enabled:
                    spans = SpanRecorder(
                        tracing,
                        manifest=manifest,
                        compute_target=adapter_type,
                        dagster_run_id=context.run.run_id,
                        dagster_job=context.run.job_name,
                        asset_key_of=lambda node: translator.get_asset_key(node).to_user_string(),
                    )
                measured = None
                if metrics.exports:
                    from floe_scaffold.tracing._metrics import MetricsRecorder

                    measured = MetricsRecorder(
                        metrics,
                        manifest=manifest,
                        compute_target=adapter_type,
                        asset_key_of=lambda node: translator.get_asset_key(node).to_user_string(),
                    )
                return observed_stream(
                    invocation,
                    context,
                    command=command,
                    spans=spans,
                    lineage=recorder,
                    metrics=measured,
                    columns=columns,
                    asset_key_of=translator.get_asset_key,
                )

            def events() -> Iterator[Any]:
                for stage in stages:  # each starts once the one before it has ended
                    yield from observed(stage.start())

            yield from with_table_metadata(
                _remembering(events(), columns),
                settings=table_metadata,
                source=metadata_source,
                manifest=manifest,
                # The last invocation's (the rows dbt reported for the others are counted)
                target_path=stages[-1].target_path,
                asset_key_of=translator.get_asset_key,
            )

        try:
            built = dbt_multi_asset(
                _dbt_assets,
                manifest=manifest_source,
                validate=lambda parsed: check_acyclic(parsed, manifest_path),
                project=project,
                select=self.select,
                exclude=self.exclude,
                translator=translator,
                name=_op_name(project_dir, cli_args),
                settings={
                    "classifications": classifications,
                    "checks": [CHECK_NAME],
                    "translation": self.translation.key,
                },
                extra_checks=lambda parsed: freshness_check_specs(
                    freshness_sources(parsed, translator.get_asset_key)
                ),
                extra_specs=lambda parsed: source_asset_specs(
                    parsed,
                    translator.get_asset_key,
                    {one.unique_id for one in freshness_sources(parsed, translator.get_asset_key)},
                ),
                keep_manifest=bool(self.schedules),  # their selections are checked and built next
            )
        except Exception:
            self._check_selection(project, manifest_source.get())
            raise
        if self.schedules:
            self._check_schedules(project, manifest_source.get())
        assets = with_automation(built.assets, self.automation)
        freshness = freshness_checks(
            built.extra_checks,
            lambda: freshness_sources(manifest_source.get(), translator.get_asset_key),
            lambda sources: freshness_results(metadata_source, sources),
            settings=self.freshness,
            where=_defs_yaml(context),
        )
        return dg.Definitions(
            assets=[assets, *(spec for spec in built.extra_specs if spec.key not in assets.keys)],
            asset_checks=[freshness] if freshness is not None else None,
            schedules=build_schedules(assets, self.schedules),
            executor=(
                floe_executor_for(DagsterRunLineage(lineage)) if self.executor == "auto" else None
            ),
        )

    def translator(
        self, classifications: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
    ) -> FloeTranslator:
        """The translator of this component's dbt nodes (its keys are the assets' keys)."""
        return FloeTranslator(classifications, key=self.translation.key)

    def _check_selection(self, project: DbtProject, manifest: Mapping[str, Any]) -> None:
        """Raise a clear error naming ``select``/``exclude`` if dbt cannot evaluate them.

        Called only when building the assets failed, so a load pays for no second selection.
        """
        for attribute, select, exclude in (
            ("select", self.select, ""),
            ("exclude", "fqn:*", self.exclude),
        ):
            problem = _selection_problem(select, exclude, project, manifest)
            if problem is not None:
                value = self.select if attribute == "select" else self.exclude
                raise ComponentAttributeError(
                    attribute,
                    f"{value!r} is not a dbt selection dbt can evaluate ({problem}); see "
                    "https://docs.getdbt.com/reference/node-selection/syntax",
                )

    def _check_schedules(self, project: DbtProject, manifest: Mapping[str, Any]) -> None:
        """Each schedule's selection is one dbt can evaluate, and selects something."""
        from dagster_dbt.utils import select_unique_ids

        for index, schedule in enumerate(self.schedules):
            where = f"schedules.{index}.select"
            try:
                selected = select_unique_ids(
                    schedule.select, schedule.exclude, "", project, manifest
                )
            except Exception as error:  # noqa: BLE001 - dbt's selector raises many kinds
                problem: str | None = f"{type(error).__name__}: {error}"
            else:
                problem = None if selected else "it selects no dbt model, seed or snapshot"
            if problem is not None:
                raise ComponentAttributeError(
                    where,
                    f"{schedule.select!r} (exclude {schedule.exclude!r}) cannot be scheduled: "
                    f"{problem}; see https://docs.getdbt.com/reference/node-selection/syntax",
                )

    def _contract(self, root: Path) -> CompiledArtifacts | None:
        if not self.artifacts or not (root / self.artifacts).exists():
            return None
        try:
            return load_artifacts(root / self.artifacts)
        except FloeError as error:
            # Dagster shows str(error), which is only the headline: keep every field path.
            problem = "\n  ".join(error.lines())
            raise ComponentAttributeError("artifacts", problem) from None

    def _tracing_target(self, root: Path, contract: CompiledArtifacts | None) -> TracingTarget:
        observability = contract.observability if contract else None
        attributes = dict(observability.attributes) if observability else {}
        context = contract.environment_context if contract else None
        if context is not None:
            attributes.setdefault("floe.tenant_id", context.tenant_id)
            attributes.setdefault("floe.tenant_slug", context.tenant_slug)
            attributes.setdefault("floe.project_slug", context.project_slug)
            attributes.setdefault("floe.environment_type", context.environment_type)
        if contract is not None:
            attributes.setdefault("floe.compute_target", contract.compute.target)
        service = attributes.pop("service.name", None) or root.name
        return resolve_tracing(
            service_name=service,
            enabled=self.tracing.enabled,
            endpoint=self.tracing.endpoint,
            protocol=self.tracing.protocol,
            timeout=self.tracing.timeout,
            contract_enabled=observability.traces if observability else True,
            contract_endpoint=observability.otlp_endpoint if observability else None,
            attributes=attributes,
        )

    def _metrics_target(
        self, contract: CompiledArtifacts | None, resource: Mapping[str, str]
    ) -> MetricsTarget:
        """Metrics resolve like spans (see ``tracing._config``), with the spans' resource."""
        observability = contract.observability if contract else None
        attributes = {k: v for k, v in resource.items() if k != "service.name"}
        return resolve_metrics(
            service_name=resource.get("service.name", ""),
            enabled=self.metrics.enabled,
            endpoint=self.metrics.endpoint,
            protocol=self.metrics.protocol,
            timeout=self.metrics.timeout,
            temporality=self.metrics.temporality,
            contract_enabled=observability.metrics if observability else True,
            contract_endpoint=observability.otlp_endpoint if observability else None,
            attributes=attributes,
        )

    def _lineage_target(self, root: Path, contract: CompiledArtifacts | None) -> LineageTarget:
        observability = contract.observability if contract else None
        return resolve_lineage(
            project_root=root,
            enabled=self.lineage.enabled,
            endpoint=self.lineage.endpoint,
            namespace=self.lineage.namespace,
            contract_enabled=(
                contract is None
                or (contract.observability.lineage and contract.governance.emit_lineage)
            ),
            contract_endpoint=observability.lineage_endpoint if observability else None,
            contract_namespace=contract.lineage_namespace if contract else None,
            timeout=self.lineage.timeout,
        )


def _classifications(
    contract: CompiledArtifacts | None,
) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    if contract is None:
        return {}
    return {
        model: {column: value.model_dump() for column, value in columns.items()}
        for model, columns in (contract.column_classifications or {}).items()
    }


def _profile_output(
    profiles_dir: Path, profile: str | None, target: str | None, project_dir: Path
) -> Mapping[str, Any]:
    """The profile output dbt will use (for dataset namespaces); empty if unreadable."""
    try:
        profiles = yaml.safe_load(read_config_text(profiles_dir / "profiles.yml"))
        name = profile or _project_profile(project_dir)
        entry = profiles[name]
        output = entry["outputs"][target or entry["target"]]
    except (OSError, UnicodeDecodeError, KeyError, TypeError, yaml.YAMLError):
        return {}
    return output if isinstance(output, Mapping) else {}


def _project_profile(project_dir: Path) -> str:
    loaded = yaml.safe_load(read_config_text(project_dir / "dbt_project.yml"))
    return str(loaded["profile"])


def _selection_problem(
    select: str, exclude: str, project: DbtProject, manifest: Mapping[str, Any]
) -> str | None:
    """What dbt's selector says about ``select``/``exclude``, or None when it accepts them."""
    from dagster_dbt.utils import select_unique_ids

    try:
        select_unique_ids(select, exclude, "", project, manifest)
    except Exception as error:  # noqa: BLE001 - dbt's selector raises many kinds
        return f"{type(error).__name__}: {error}"
    return None


def _op_name(project_dir: Path, cli_args: list[str]) -> str:
    """The Dagster step's name: what it runs, ``dbt_build`` after the command of ``cli_args``.

    A dbt project in a folder not named ``dbt`` gets the folder in front: ``etl_dbt_build``.
    """
    command = next((arg for arg in cli_args if not arg.startswith("-")), "build")
    name = f"dbt_{re.sub(r'[^A-Za-z0-9_]', '_', command)}"
    folder = re.sub(r"[^A-Za-z0-9_]", "_", project_dir.name)
    return name if folder in {"", "dbt"} else f"{folder}_{name}"


def _defs_yaml(context: dg.ComponentLoadContext) -> str:
    """The component's ``defs.yaml`` (or the Python file making it), from the project root."""
    path = Path(context.path)
    path = path / "defs.yaml" if path.is_dir() else path
    try:
        return str(path.relative_to(context.project_root))
    except ValueError:
        return str(path)


def _column_tracker(
    enabled: bool, manifest: Mapping[str, Any], project_dir: Path, target: Path
) -> Any:
    """The column lineage reader of one run, None when off (imported when a run starts).

    What it read is remembered in ``floe_columns.json`` beside the manifest, for later runs.
    """
    if not enabled:
        return None
    from floe_scaffold._column_lineage import ColumnTracker
    from floe_scaffold.components._packages import declared_packages

    declared = declared_packages(project_dir)
    return ColumnTracker(
        manifest,
        project_dir,
        declared.install_dir if declared else None,
        remembered=target / "floe_columns.json",
    )


def _remembering(events: Iterator[Any], columns: Any) -> Iterator[Any]:
    """``events``; then the columns read are saved, for a later run of only some of them."""
    try:
        yield from events
    finally:
        if columns is not None:
            columns.save()

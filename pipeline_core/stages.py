"""The one stage table: every job stage of the pipeline and each of its properties, in pipeline order.

Everything else derives from this table: the state machine (titles), the job names (tokens), the training
requests (entry point, dataset, channel), which weights a stage starts from, the settings slot it reads, the
gate, the report's sections and local mode's progress. Adding a stage is one row here plus its job code.

Two vocabularies meet here and only here: a stage's ``name`` (``eval_sft``: the key of ``$.jobs``, of the
artifact records and of the job outputs) and the names of what it uses — the job code's job type and
dataset (``sft``, ``eval``), the settings slot (``stages.eval``) and the report section (``sft``).
"""

from __future__ import annotations

from dataclasses import dataclass

TRAIN = "train"
EVAL = "eval"
# What an EVAL stage ``evaluates`` when it measures the weights deployed on the pipeline's endpoint when the
# run began (champion/challenger), not a stage of this run: forge_handlers.champion finds them.
CHAMPION = "@champion"


@dataclass(frozen=True)
class Stage:
    name: str  # the stage's key: $.jobs.<name>, runs/<run>/jobs/<name>/, stages.for_stage(<name>)
    title: str  # the prefix of its state names ("EvalSFT Launch")
    token: str  # its part of the SageMaker job name ("<pipeline>--<run>-evsft-a1")
    kind: str  # TRAIN (produces weights) or EVAL (measures weights)
    job: str  # the job code's job type: its hyperparameter class and its Nova image kind
    dataset: str  # the prepared dataset it reads (runs/<run>/data/<dataset>/)
    channel: str  # the SageMaker input channel that dataset arrives on
    entry_point: str  # open weights: the code channel's script the training toolkit runs
    settings_key: str  # its settings slot: stages.<settings_key>
    methods: tuple[str, ...]  # Nova recipe methods that run it; the first is the default
    # EVAL: the TRAIN stage whose weights it measures, None for the base model, CHAMPION for the deployed
    # model. TRAIN: None.
    evaluates: str | None
    section: str  # the report section it belongs to (a trained stage and its evaluation share one)

    @property
    def is_eval(self) -> bool:
        return self.kind == EVAL

    @property
    def measures_champion(self) -> bool:
        """An evaluation of the model deployed before this run (it runs only when there is one)."""
        return self.evaluates == CHAMPION

    @property
    def default_method(self) -> str:
        return self.methods[0]


_EVAL_METHODS = ("EVAL_GEN_QA",)
STAGES: tuple[Stage, ...] = (
    Stage("baseline_eval", "BaselineEval", "base", EVAL, "eval", "eval", "eval", "evaluate.py",
          "baseline_eval", _EVAL_METHODS, None, "baseline"),
    Stage("eval_champion", "EvalChampion", "champ", EVAL, "eval", "eval", "eval", "evaluate.py", "eval",
          _EVAL_METHODS, CHAMPION, "champion"),
    Stage("sft", "SFT", "sft", TRAIN, "sft", "sft", "train", "sft.py", "sft", ("SFT_LORA", "SFT_FULL"), None,
          "sft"),
    Stage("eval_sft", "EvalSFT", "evsft", EVAL, "eval", "eval", "eval", "evaluate.py", "eval", _EVAL_METHODS,
          "sft", "sft"),
    Stage("rft", "RFT", "rft", TRAIN, "rft", "rft", "train", "rft.py", "rft", ("RFT_LORA",), None, "rft"),
    Stage("eval_rft", "EvalRFT", "evrft", EVAL, "eval", "eval", "eval", "evaluate.py", "eval", _EVAL_METHODS,
          "rft", "rft"),
)


class UnknownStageError(KeyError):
    """A stage name the table does not have; the message lists the ones it has."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def job_stages() -> tuple[Stage, ...]:
    """Every job stage, in pipeline order (read at call time, so a test can swap the table)."""
    return STAGES


def names() -> tuple[str, ...]:
    return tuple(s.name for s in job_stages())


def stage(name: str) -> Stage:
    for candidate in job_stages():
        if candidate.name == name:
            return candidate
    raise UnknownStageError(f"unknown job stage {name!r}; expected one of {list(names())}")


def train_stages() -> tuple[Stage, ...]:
    return tuple(s for s in job_stages() if not s.is_eval)


def eval_stages() -> tuple[Stage, ...]:
    return tuple(s for s in job_stages() if s.is_eval)


def base_eval_stage() -> Stage | None:
    """The evaluation of the base model (the gate's baseline), if the table has one."""
    return next((s for s in eval_stages() if s.evaluates is None), None)


def champion_stage() -> Stage | None:
    """The evaluation of the model deployed on the pipeline's endpoint (the gate's champion), if any."""
    return next((s for s in eval_stages() if s.measures_champion), None)


def rewarded_stage() -> Stage:
    """The training stage that learns from a reward (its Nova methods are RFT ones): the reward module is
    checked on the rows of its dataset, formatted as its job reads them."""
    return next(s for s in train_stages() if any(m.startswith("RFT") for m in s.methods))


def runs_with(name: str) -> str:
    """The stage whose settings slot switches ``name`` on: an evaluation of trained weights runs iff the
    stage that trains them runs; every other stage has its own ``enabled``. For the champion's evaluation
    it is CHAMPION: no settings slot, it runs iff the pipeline deploys (StagesSettings.enabled_job_stages)."""
    evaluated = stage(name).evaluates
    return evaluated if evaluated is not None else name


def source_stage(name: str, enabled: list[str] | tuple[str, ...]) -> str | None:
    """The stage whose weights ``name`` starts from, given the enabled stages (None = the base model,
    CHAMPION = the deployed model, named by the run's champion record).

    An evaluation measures the weights it names; a training stage continues from the last enabled training
    stage before it (RFT after SFT starts from SFT's weights, RFT alone from the base model).
    """
    current = stage(name)
    if current.is_eval:
        return current.evaluates
    before = names()[: names().index(name)]
    trained = [s for s in before if s in enabled and not stage(s).is_eval]
    return trained[-1] if trained else None


def report_sections() -> dict[str, tuple[str | None, str]]:
    """Report section -> (its training stage or None, its evaluation stage), in pipeline order. The
    champion's section has no training stage: its weights come from an earlier run."""
    sections: dict[str, tuple[str | None, str]] = {}
    for s in eval_stages():
        sections[s.section] = (None if s.measures_champion else s.evaluates, s.name)
    order = list(dict.fromkeys(s.section for s in job_stages()))
    return {section: sections[section] for section in order if section in sections}


def stage_of_state(state_name: str) -> str | None:
    """The job stage a state belongs to: its states are named "<title> <part>" ("EvalSFT Poll"); None for
    a state of no job stage."""
    return next((s.name for s in job_stages() if state_name.startswith(f"{s.title} ")), None)


def settings_keys() -> tuple[str, ...]:
    """The settings slots the stages read (stages.<key>), in order of first use."""
    return tuple(dict.fromkeys(s.settings_key for s in job_stages()))


def job_methods() -> dict[str, tuple[str, ...]]:
    """The job code's job type -> the Nova methods that run it."""
    methods: dict[str, tuple[str, ...]] = {}
    for s in job_stages():
        methods.setdefault(s.job, s.methods)
    return methods

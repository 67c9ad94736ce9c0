"""Every exception ccnb raises on purpose, under one base class.

A consultant's code can catch :class:`CcnbError` for anything ccnb reports about the client's
inputs or the analysis; each class also derives from the built-in exception it used to be (so
``except ValueError`` still catches a `ParamsError`). The batch runner classifies failures by
these types: an :class:`InputError` is the client's to fix and is reported by its message
alone; anything else is a bug and is reported with its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccnb.clv.results import FittedModel

__all__ = [
    "CcnbError",
    "DataError",
    "EngineError",
    "FitError",
    "InputError",
    "InsufficientDataError",
    "ModelUnavailable",
    "ParamsError",
    "Unavailable",
]


class CcnbError(Exception):
    """Base class of every exception ccnb raises on purpose."""


class InputError(CcnbError):
    """The client's inputs or set-up must change; the message says what and how."""


class ParamsError(InputError, ValueError):
    """A params file or override is invalid; the message says what and how to fix it."""


class DataError(InputError, ValueError):
    """A source cannot be used as mapped; the message names the file, the problem and the fix."""


class EngineError(InputError, OSError):
    """The engine named in the params cannot start here (extra or Java missing); says the fix."""


class OutputError(InputError, FileExistsError):
    """The output folder holds files ccnb did not write; nothing was touched. Says the fix."""


class Unavailable(CcnbError, RuntimeError):
    """A section cannot be computed for this client; the message is one reader-facing sentence."""


class ModelUnavailable(Unavailable):
    """A model the section needs could not be fitted; the message is one reader-facing sentence.

    The message is what every dependent section shows; ``reason`` is said once, where the
    fallback is shown; ``detail`` is for the run log, never the report.

    Attributes
    ----------
    reason : str
        Why the model could not be fitted and what to use instead, in a reader's words.
    detail : str
        The technical reason (optimiser, Hessian, minimums).
    """

    def __init__(self, message: str, *, reason: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        self.detail = detail


class InsufficientDataError(CcnbError, ValueError):
    """Too little data to fit a model; names the requirement and the minimum.

    Attributes
    ----------
    model : str
        Model that cannot be fitted.
    requirement : str
        What is counted (e.g. ``"repeat buyers (frequency > 0)"``).
    minimum : int
        The minimum ccnb requires.
    observed : int
        What the data has.
    """

    def __init__(self, model: str, requirement: str, minimum: int, observed: int):
        self.model = model
        self.requirement = requirement
        self.minimum = minimum
        self.observed = observed
        super().__init__(
            f"{model} needs at least {minimum} {requirement}; the data has {observed}. "
            "Use a longer observation period or skip this model."
        )


class FitError(CcnbError, RuntimeError):
    """A model fit did not converge to a usable optimum.

    Attributes
    ----------
    fitted : FittedModel
        The best attempt, with ``converged_`` False and ``convergence_`` saying why.
    """

    def __init__(self, fitted: FittedModel, message: str | None = None):
        self.fitted = fitted
        if message is None:
            message = (
                f"{fitted.label} fit on {fitted.n_customers_} customers did not converge: "
                f"{fitted.convergence_}"
            )
        super().__init__(
            f"{message}. This usually means the data cannot identify the model (for example "
            "too short a history to see customers drop out): try another model, a longer "
            "history, or a small penalizer such as 0.001."
        )

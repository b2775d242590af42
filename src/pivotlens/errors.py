"""User-facing errors: the CLI prints their message without a traceback and exits non-zero."""


class PivotlensError(Exception):
    """A mistake the user can fix; the message says how."""


class DatasetError(PivotlensError):
    """A CLWTD file is missing, malformed or inconsistent."""


class LexicalResourceError(PivotlensError):
    """A lexical resource the CLWTD builder needs is missing; the message says how to install it."""


class ModelError(PivotlensError):
    """A model cannot be loaded or is not supported."""


class UnsupportedArchitectureError(ModelError):
    """The model class has no entry in the architecture table."""


class CorpusError(PivotlensError):
    """A corpus or corpus index is missing, unreadable or malformed."""


class RecordError(PivotlensError):
    """A record file the stages exchange (behaviours, item scores, …) is missing or malformed; the
    message names the file, the line and the key."""


class RunDirectoryError(PivotlensError):
    """An output directory holds results that do not match the requested run."""


class SelectionError(PivotlensError):
    """A selection input is missing or inconsistent, or a parameter cannot be satisfied."""


class ConfigError(PivotlensError):
    """A config section or option is unknown, or a value has the wrong type."""


class LlmEndpointError(PivotlensError):
    """An OpenAI-compatible chat endpoint cannot be reached or answers something unusable."""


class EngineError(PivotlensError):
    """An engine is unknown, does not run the stage asked for, or its cluster cannot be reached."""

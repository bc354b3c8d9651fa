"""Reading the YAML files teams edit (playbook, overlays): one error type per file kind, the
message always naming the file."""

from pathlib import Path

import yaml


def read_yaml(path: Path, error: type[Exception], what: str):
    """The parsed file, or `error` saying which file could not be read or parsed."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc

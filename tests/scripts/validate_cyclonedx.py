"""Validates CycloneDX 1.5 JSON files against the official schema (strict: no unknown fields),
with the validator of the CycloneDX project's own Python library (PyPI cyclonedx-python-lib,
extra json-validation). Exits 1 naming the first error of each invalid file."""
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

validator = JsonStrictValidator(SchemaVersion.V1_5)
failed = False
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        error = validator.validate_str(f.read())
    if error is not None:
        print(f"{path}: {error}", file=sys.stderr)
        failed = True
    else:
        print(f"{path}: valid CycloneDX 1.5")
sys.exit(1 if failed else 0)

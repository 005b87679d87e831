"""sda-control: the eight musical sliders of a model (fitting, the control map, DSP assists, evaluation).

The code-grid editor lives in ``sda_control.codes``.
"""

from sda_control.control_map import CONTROL_NAMES, ControlMap, require_control_map, validate_controls
from sda_control.names import REALISATIONS, descriptor_of

__version__ = "0.1.0"

__all__ = ["CONTROL_NAMES", "REALISATIONS", "ControlMap", "descriptor_of", "require_control_map",
           "validate_controls"]

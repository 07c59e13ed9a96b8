"""Gold panels (study 1's clusters' city-year and firm-year panels, study 2's 120-city
panel) and their descriptive statistics; the ``panels`` stage is :mod:`.job`."""
from .city120 import City120Panel
from .cluster_year import ClusterYearPanel
from .descriptives import DescriptiveTables
from .firm_year import FirmYearPanel
from .transforms import PanelInputError
from .validate import PanelValidationError

__all__ = ["ClusterYearPanel", "City120Panel", "FirmYearPanel", "DescriptiveTables",
           "PanelInputError", "PanelValidationError"]

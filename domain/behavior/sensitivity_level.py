"""Price-sensitivity levels (seed interface ``BehaviorAnalysisResult.priceSensitivity``)."""

from enum import StrEnum


class PriceSensitivity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

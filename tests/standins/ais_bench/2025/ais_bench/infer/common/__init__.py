"""tools 2025 moved its helpers here (common/utils.py); its presence tells 2025 from ait 2024."""

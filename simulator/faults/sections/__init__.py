"""Scenario sections that act as faults: the number plan, blacklists, sending rules, throttling.

Each module here declares one SectionFault with @scenario_section (simulator.faults.registry loads
them all, with the kinds); its model is the section's in simulator.scenario.
"""

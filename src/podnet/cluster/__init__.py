"""Cluster life-cycle: the control-plane process, bring-up and tear-down."""

"""Logging: structured logs, a log viewer and planted bugs to find"""

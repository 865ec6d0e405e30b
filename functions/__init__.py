"""Every Lambda function of Stratus, one folder each, grouped by service.

``functions/<service>/<name>/handler.py`` holds the function's declaration (``function``) and its
Lambda entry point (``handler``); the folder is the function's own deployment asset.
"""

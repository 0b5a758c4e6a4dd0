"""What more than one area needs: the broker, run options, sending, inspect, scripts, locks.

Only this package may be imported by more than one area. It imports no area and uses no Flask
request objects, so the web views, the JSON API and the background processes share it.
"""

"""Reference emergence-app: honours the service contract (see ../shared/DESIGN.md).

`python -m app` reads the settings from the environment, refuses to start with one clear log
line when they are wrong, and serves on $PORT (8080 by default) until SIGTERM.
"""

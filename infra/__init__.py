"""emergence-cloudrun: the Pulumi components, settings and commands that deploy emergence-app.

Dependencies run one way (see ../shared/DESIGN.md): the program uses components, components
use settings; components and the CLI use the pure decision functions and the Google API client.
Nothing here imports the CLI, and settings import no component.
"""

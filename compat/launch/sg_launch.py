"""Written by ScriptGateway: starts an SDK script (see scriptgateway_sdk._launch)."""
import sys

from scriptgateway_sdk._launch import launch

sys.exit(launch(sys.argv[1:]))

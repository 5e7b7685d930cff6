"""The rowcast command: wires the binlog reader, the web app and the scheduler."""

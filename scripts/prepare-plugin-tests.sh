#!/usr/bin/env bash
# Prepares the OpenClaw plugin test suite (called by `make test`); never fails the build.
# Placeholder: filled in with the plugin (npm ci in openclaw-plugin/ when node >= 20 and npm exist).
exit 0

"""Sources (files, cameras, streams), camera modes, sinks and video writers."""

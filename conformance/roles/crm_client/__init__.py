"""The suite as the PBX's API: judging the requests a CRM sends (call_back, get_record,
the download of a recording) and the round trip from a recorded call to its download."""

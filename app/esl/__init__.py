"""FreeSWITCH event socket: connections (python-ESL) and validated command builders."""

"""The FreeSWITCH directory: effective extension config, its Redis mirror, and the mod_xml_curl endpoint."""

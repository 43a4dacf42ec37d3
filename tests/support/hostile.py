"""Hostile argument values for whatever reaches FreeSWITCH: each character class facts §3.7
names, unicode look-alikes, empty and too long. A builder must refuse every one."""

UUID = "1f474b02-c679-4a1b-8803-115a722f4a65"
UUID2 = "473d43ee-bcbe-4619-8938-cb517d079bb1"

HOSTILE = [
    "", " ", "a b", "a\tb", "a\rb", "a\nb", "a\r\nb", "a\n\nb", "a\x00b", "${system(id)}", "$${x}",
    "{a=b}", "a{", "a}", "(x)", "a(", "a)", "a,b", "a|b", "a'b", 'a"b', "a\\b", "a;b", "a&b",
    "a%b", "a^b", "[x]", "a$b", "a b\n\napi system id",
    "１００１",            # fullwidth digits
    "10\u200b01",          # zero-width space
    "10\u00a001",          # no-break space
    "10\u202e01",          # right-to-left override
    "10\u202801",          # unicode line separator
    "10\x8501",            # NEL
    "exampl\u0435.com",    # Cyrillic e
    "x" * 300,
]

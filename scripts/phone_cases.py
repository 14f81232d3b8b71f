#!/usr/bin/env python3
"""Writes the phone numbers Doorstep's parser is checked against, each with what libphonenumber
makes of it (through `phonenumbers`, its Python port, pinned in requirements-test.txt to the
metadata version of the Rust table).

Every region's example numbers are written the ways people write them (international, national,
with the region's or another's international prefix, with the calling code but no `+`, in Thai,
Arabic-Indic and full-width digits, with extensions, in `tel:` URIs), then changed a digit at a
time, and joined by random digit strings and text. Each line is JSON: [input, region or "",
E.164 or "" when libphonenumber finds no valid number].

Usage: phone_cases.py OUT            write the cases
       phone_cases.py --check FILE   fail unless FILE is exactly what this writes
"""

import json
import random
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]
SCRIPTS = {"th": 0x0E50, "ar": 0x0660, "fa": 0x06F0, "wide": 0xFF10}
PUNCTUATION = [" ", "-", ".", "/", "(", ")", "\u00a0", "\u2013"]


def expected(raw, region):
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def in_script(text, zero):
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


def spaced(digits, rng):
    out = []
    for i, d in enumerate(digits):
        if i and rng.random() < 0.3:
            out.append(rng.choice(PUNCTUATION))
        out.append(d)
    return "".join(out)


def mutations(digits, rng):
    out = [digits[:-1], digits + str(rng.randrange(10))]
    if len(digits) > 1:
        at = rng.randrange(len(digits))
        out.append(digits[:at] + str(rng.randrange(10)) + digits[at + 1 :])
        out.append(digits[:at] + digits[at + 1 :])
    return out


def cases():
    rng = random.Random(20261128)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    out = []
    for region in regions:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        cc = meta.country_code
        prefix = meta.national_prefix or ""
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            nsn = phonenumbers.national_significant_number(example)
            other = rng.choice(regions)
            forms = [
                (phonenumbers.format_number(example, PhoneNumberFormat.E164), ""),
                (phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL), region),
                (phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL), other),
                (phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL), region),
                (phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL), other),
                (phonenumbers.format_number(example, PhoneNumberFormat.RFC3966), ""),
                (f"tel:{prefix}{nsn};phone-context=+{cc}", ""),
                (f"00 {cc} {spaced(nsn, rng)}", "GB"),
                (f"011 {cc} {spaced(nsn, rng)}", "US"),
                (f"00{cc}{nsn}", region),
                (f"{cc}{nsn}", region),
                (f"{cc} {spaced(nsn, rng)}", region),
                (nsn, region),
                (f"{prefix}{spaced(nsn, rng)}", region),
                (f"+{cc} ({prefix}) {spaced(nsn, rng)}", ""),
                (f"+{cc} {nsn} ext. {rng.randrange(1, 9999)}", ""),
                (f"{prefix}{nsn} x{rng.randrange(1, 999)}", region),
                (f"{prefix}{nsn} #{rng.randrange(1, 99)}", region),
                (f"+{cc}{nsn};ext={rng.randrange(1, 99)}", ""),
                (f"Call me on +{cc} {nsn} after 5pm", ""),
                (f"{prefix}{nsn}/x{rng.randrange(1, 99)}", region),
            ]
            for script, zero in SCRIPTS.items():
                forms.append((in_script(f"+{cc} {spaced(nsn, rng)}", zero), ""))
                forms.append((in_script(f"{prefix}{nsn}", zero), region))
            for changed in mutations(nsn, rng):
                forms.append((f"+{cc}{changed}", ""))
                forms.append((f"{prefix}{changed}", region))
                forms.append((f"{cc}{changed}", region))
            out.extend(forms)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        out.append((f"+{code}{nsn}", ""))
        out.append((f"+{code} {spaced(nsn, rng)}", rng.choice(regions)))
        for changed in mutations(nsn, rng):
            out.append((f"+{code}{changed}", ""))
    # Digits at random, with and without a `+`, in random regions.
    for _ in range(6000):
        digits = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(1, 19)))
        region = rng.choice(regions + [""])
        lead = rng.choice(["+", "", "", "0", "00"])
        out.append((lead + spaced(digits, rng), region))
    # Text that is not quite a number, and numbers spelled with letters.
    texts = [
        "", " ", "+", "++", "+0", "00", "#", "tel:", "tel:+", ";phone-context=", "555-555-SHIP",
        "1-800-FLOWERS", "1 800 MICROSOFT", "+1 800 GOT JUNK", "0800 REVERSE", "n/a", "none",
        "someone@example.com", "+66 81 234 5678 ext", "+44 (0) 20 7946 0958", "(+44) 020 7946 0958",
        "+1 (650) 253-0000 x1234", "1 (650) 253-0000 ,extension 7246433", "650 253 0000;ext=123",
        "tel:+1-650-253-0000;isub=12345", "tel:650-253-0000;phone-context=example.com",
        "tel:650-253-0000;phone-context=+1-650", "tel:650-253-0000;phone-context=+",
        "+1 650 253 0000,,123", "+1 650 253 0000;123", "+1 650 253 0000 - 123#",
        "+800 1234 5678", "+979 1 234 567 89", "\uff0b\uff16\uff16\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
        "+66 8l 234 5678", "0 8 1 2 3 4 5 6 7 8", "+66 (0) 81-234-5678", "+6608 1234 5678",
    ]
    for text in texts:
        for region in ["", "TH", "US", "GB", "JP", "AU", "DE", "AR", "BR", "MX"]:
            out.append((text, region))
    return [[raw, region, expected(raw, region)] for raw, region in out]


def render():
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases())


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        with open(argv[2], encoding="utf-8") as f:
            if f.read() != render():
                sys.exit(f"{argv[2]} is not what libphonenumber {phonenumbers.__version__} gives: regenerate it")
        return
    if len(argv) != 2:
        sys.exit(__doc__)
    with open(argv[1], "w", encoding="utf-8") as f:
        f.write(render())


if __name__ == "__main__":
    main(sys.argv)

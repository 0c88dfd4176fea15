"""Host names, record names and IP addresses as tenants and simulators send them: the allowlists that guard
monit's control file accept only safe names, and the comparisons that decide whether a DNS record must change agree
with `ipaddress` whatever the spelling."""
from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import domains

from app.health_checks import (
    HEALTH_PATH_MAX, HealthCheckError, health_path_problem, is_host_name, parse_tool_url,
)
from app.services.aws import _normal_ip
from app.services.cloudflare_dns import CloudflareZone, _full_name, _same_content
from sandbox import cloudflare as cloudflare_simulator
from tests.fuzz.examples import count

# What must never reach a monit control file: quotes end its strings, whitespace and control characters end its
# statements.
MONIT_BREAKERS = set("\"'\\ \t\r\n\x00\x7f")
HOSTILE_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.from_regex(
    r"\A(https?://)?[a-z0-9.:@/\"' \n%-]{0,40}\Z")


@given(domains())
def test_every_real_domain_in_lowercase_is_a_host_name(domain):
    count("dns.is_host_name(valid)")
    assert is_host_name(domain.lower())


@given(HOSTILE_TEXT)
def test_a_host_name_holds_nothing_that_breaks_a_monit_file(name):
    count("dns.is_host_name(hostile)")
    if is_host_name(name):
        assert not MONIT_BREAKERS & set(name) and len(name) <= 253 and "." in name
        assert name == name.lower() and name.isascii() and "*" not in name


@given(HOSTILE_TEXT)
def test_a_health_path_is_refused_in_words_or_safe(path):
    count("monit.health_path")
    problem = health_path_problem(path)
    if problem is None:
        assert path.startswith("/") and len(path) <= HEALTH_PATH_MAX and not MONIT_BREAKERS & set(path)
    else:
        assert problem.endswith(".")


@given(HOSTILE_TEXT | st.builds(lambda host, port, path: f"https://{host}:{port}{path}", domains(),
                                st.integers(-5, 70000), st.from_regex(r"\A/[a-z/?=&]{0,10}\Z")))
def test_a_tool_url_is_refused_in_words_or_every_part_is_safe(url):
    count("monit.parse_tool_url")
    try:
        address = parse_tool_url(url)
    except HealthCheckError as error:
        assert str(error)
        return
    assert address.protocol in ("http", "https") and 1 <= address.port <= 65535
    for part in (address.host, address.path):
        assert not MONIT_BREAKERS & set(part), part


@given(st.ip_addresses())
def test_an_address_from_aws_is_compared_in_its_compressed_form(address):
    count("aws._normal_ip")
    assert _normal_ip(address.exploded) == address.compressed
    assert _normal_ip(str(address)) == address.compressed


@given(HOSTILE_TEXT)
def test_text_that_is_no_address_is_kept_as_it_is(text):
    count("aws._normal_ip(hostile)")
    normal = _normal_ip(text)
    assert normal == text or normal == ipaddress.ip_address(text).compressed


@given(st.ip_addresses(v=6))
def test_an_aaaa_record_spelled_another_way_is_no_change(address):
    count("cloudflare._same_content(AAAA)")
    assert _same_content("AAAA", address.exploded, address.compressed)
    assert _same_content("AAAA", address.compressed.upper(), address.exploded)
    assert not _same_content("AAAA", address.compressed, str(ipaddress.IPv6Address(int(address) ^ 1)))


@given(st.sampled_from(["CNAME", "A", "TXT", "MX"]), HOSTILE_TEXT, HOSTILE_TEXT)
def test_content_comparison_is_symmetric(record_type, first, second):
    count("cloudflare._same_content(symmetric)")
    assert _same_content(record_type, first, second) == _same_content(record_type, second, first)
    assert _same_content(record_type, first, first)


@given(domains(), st.one_of(domains(), st.just("@"), st.just(""), st.from_regex(r"\A[a-z0-9.*_-]{0,30}\.?\Z")))
def test_a_record_name_completes_to_a_name_inside_its_zone_and_is_stable(zone_name, name):
    count("cloudflare._full_name")
    zone = CloudflareZone(cf_id="0" * 32, name=zone_name.lower())
    full = _full_name(name, zone)
    assert full == zone.name or full.endswith("." + zone.name)
    assert _full_name(full, zone) == full


@given(st.sampled_from(["A", "AAAA", "CNAME", "TXT"]), HOSTILE_TEXT | st.ip_addresses().map(str))
def test_the_cloudflare_simulator_takes_valid_content_or_answers_its_api_error(record_type, raw):
    count("sandbox.cloudflare._content")
    try:
        content = cloudflare_simulator._content(record_type, raw, "www.example.com")
    except cloudflare_simulator.ApiError:
        return
    if record_type == "A":
        assert ipaddress.IPv4Address(content)
    elif record_type == "AAAA":
        assert ipaddress.IPv6Address(content)
    elif record_type == "CNAME":
        assert cloudflare_simulator._is_hostname(content) and content != "www.example.com"

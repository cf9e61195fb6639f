"""The templates Carnet ships: "Centre Hospitalier" (public hospitals, which buy through public
procurement: référencement, appel d'offres) and "Clinique privée" (private clinics, ordinary B2B
buyers with a shorter cycle), written for a medical-device distributor.

Migration 0062 inserts a frozen copy of this data on every installation; `install_builtin_templates`
creates the ones that are missing (an existing template of the same name is left as it is, since an
administrator may have edited it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.core import audit
from carnet.core.context import SYSTEM
from carnet.projects.definition import parse_definition
from carnet.projects.models import ProjectTemplate, ProjectTemplateVersion

ADV = "Administration des ventes"
TRAINER = "Formateur"
TECHNICIAN = "Technicien biomédical"
REGULATORY = "Affaires réglementaires"


def _task(
    title: str,
    due_days: int,
    priority: str = "normal",
    role: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    assignee = {"type": "member_role", "role": role} if role else {"type": "owner"}
    return {
        "title": title,
        "description": description,
        "due_days": due_days,
        "priority": priority,
        "assignee": assignee,
    }


CENTRE_HOSPITALIER: dict[str, Any] = {
    "name": "Centre Hospitalier",
    "description": (
        "Établissements publics de santé (CHU, CH) : du premier contact au référencement par marché "
        "public, puis déploiement, formation des équipes et suivi."
    ),
    "definition": {
        "phases": [
            {
                "key": "qualification",
                "name": "Qualification",
                "description": "Comprendre le besoin clinique, les interlocuteurs et le mode d'achat de l'établissement.",
                "tasks": [
                    _task(
                        "Identifier les interlocuteurs clés (chef de service, pharmacien, ingénieur biomédical, acheteur)",
                        7,
                        "high",
                    ),
                    _task(
                        "Vérifier le GHT de rattachement et la centrale d'achat utilisée (UniHA, Resah, UGAP)",
                        10,
                    ),
                    _task("Recueillir le besoin clinique et le volume annuel estimé", 14),
                    _task(
                        "Repérer les marchés en cours et leurs échéances (BOAMP, profil acheteur)",
                        14,
                        role=ADV,
                    ),
                ],
                "checklist": [
                    "Besoin clinique identifié",
                    "Service utilisateur identifié",
                    "Mode d'achat connu (marché en cours, MAPA, appel d'offres, centrale d'achat)",
                    "Budget ou enveloppe d'investissement connu",
                ],
                "documents": ["Fiche établissement"],
                "required_fields": ["target_date", "contact_role:head_of_department"],
            },
            {
                "key": "presentation",
                "name": "Présentation",
                "description": "Présenter le dispositif au service, à la pharmacie (PUI) et au service biomédical.",
                "tasks": [
                    _task("Organiser la présentation au staff médical du service", 7, "high"),
                    _task("Présenter le dispositif à la pharmacie (PUI) et au service biomédical", 14),
                    _task(
                        "Envoyer la documentation technique et la déclaration de conformité CE",
                        3,
                        role=REGULATORY,
                    ),
                    _task("Rédiger le compte rendu de la présentation", 15),
                ],
                "checklist": [
                    "Démonstration réalisée",
                    "Documentation technique remise",
                    "Questions du service traitées",
                ],
                "documents": ["Support de présentation", "Fiche technique et déclaration de conformité CE"],
                "required_fields": ["contact_role:pharmacist", "contact_role:biomedical_engineer"],
            },
            {
                "key": "essai_evaluation",
                "name": "Essai / Évaluation",
                "description": "Mise à disposition du matériel pour un essai encadré, puis bilan avec le service.",
                "tasks": [
                    _task("Rédiger la convention de prêt pour essai", 5, "high"),
                    _task("Livrer et installer le matériel d'essai", 10, role=TECHNICIAN),
                    _task("Former l'équipe soignante au matériel d'essai", 12, role=TRAINER),
                    _task("Recueillir les grilles d'évaluation des utilisateurs", 40),
                    _task("Faire le bilan d'essai avec le chef de service et la pharmacie", 45, "high"),
                ],
                "checklist": [
                    "Convention d'essai signée",
                    "Matériel livré et installé",
                    "Grilles d'évaluation recueillies",
                    "Avis favorable du service",
                ],
                "documents": ["Convention de prêt pour essai", "Grille d'évaluation", "Compte rendu d'essai"],
                "required_fields": [
                    "contact_role:head_of_department",
                    "document:Convention de prêt pour essai",
                    "document:Compte rendu d'essai",
                ],
            },
            {
                "key": "referencement_appel_offres",
                "name": "Référencement / Appel d'offres",
                "description": (
                    "Référencement du produit et réponse à la consultation (MAPA ou appel d'offres selon "
                    "le montant), jusqu'à la notification d'attribution."
                ),
                "tasks": [
                    _task(
                        "Surveiller la publication de la consultation (BOAMP, JOUE, profil acheteur)",
                        7,
                        "high",
                        ADV,
                    ),
                    _task(
                        "Retirer le DCE et analyser le règlement de consultation et le CCTP",
                        10,
                        "high",
                    ),
                    _task("Rédiger le mémoire technique", 21, "high"),
                    _task(
                        "Rassembler les pièces administratives (DUME ou DC1/DC2, attestations fiscales et sociales, Kbis)",
                        21,
                        role=ADV,
                    ),
                    _task("Remettre l'offre sur le profil acheteur avant la date limite", 28, "urgent"),
                    _task("Demander le rapport d'analyse des offres après l'attribution", 75, "low"),
                ],
                "checklist": [
                    "DCE retiré",
                    "Questions posées à l'acheteur dans les délais",
                    "Offre déposée avant la date limite",
                    "Notification d'attribution reçue",
                ],
                "documents": [
                    "Dossier de consultation (DCE)",
                    "Mémoire technique",
                    "Bordereau de prix unitaires",
                    "Notification d'attribution",
                ],
                "required_fields": [
                    "contact_role:purchasing",
                    "deal_won",
                    "document:Mémoire technique",
                    "document:Notification d'attribution",
                ],
            },
            {
                "key": "deploiement",
                "name": "Déploiement",
                "description": "Commande, livraison et mise en service dans les unités de soins.",
                "tasks": [
                    _task("Recevoir le bon de commande et le numéro d'engagement", 5, "high", ADV),
                    _task(
                        "Vérifier les données de facturation Chorus Pro (SIRET de facturation, code service)",
                        7,
                        role=ADV,
                    ),
                    _task("Planifier la livraison avec le service biomédical", 10),
                    _task("Livrer et installer les dispositifs", 30, "high", TECHNICIAN),
                    _task("Faire signer le procès-verbal de réception", 35, "high"),
                ],
                "checklist": [
                    "Bon de commande reçu",
                    "SIRET de facturation et code service vérifiés",
                    "Matériel livré",
                    "Procès-verbal de réception signé",
                ],
                "documents": ["Bon de commande", "Procès-verbal de réception"],
                "required_fields": [
                    "contact_role:biomedical_engineer",
                    "document:Bon de commande",
                    "document:Procès-verbal de réception",
                ],
            },
            {
                "key": "formation",
                "name": "Formation",
                "description": "Formation des équipes soignantes et des référents, de jour comme de nuit.",
                "tasks": [
                    _task("Planifier les sessions de formation avec le cadre de santé", 7, role=TRAINER),
                    _task("Former les équipes soignantes de jour et de nuit", 21, "high", TRAINER),
                    _task(
                        "Former les référents et le service biomédical à la maintenance de premier niveau",
                        28,
                        role=TECHNICIAN,
                    ),
                    _task(
                        "Transmettre les feuilles d'émargement et les attestations de formation",
                        30,
                        role=TRAINER,
                    ),
                ],
                "checklist": [
                    "Sessions planifiées",
                    "Équipes de jour formées",
                    "Équipes de nuit formées",
                    "Référents désignés",
                ],
                "documents": ["Feuilles d'émargement", "Attestations de formation"],
                "required_fields": ["contact_role:nursing_manager", "document:Feuilles d'émargement"],
            },
            {
                "key": "suivi",
                "name": "Suivi",
                "description": "Suivi de l'utilisation, de la satisfaction et préparation du renouvellement du marché.",
                "tasks": [
                    _task("Appeler le service un mois après la mise en service", 30),
                    _task("Faire le bilan d'utilisation à trois mois (consommation, incidents)", 90),
                    _task("Préparer le renouvellement ou la révision de prix du marché", 300, "low"),
                ],
                "checklist": [
                    "Bilan à trois mois réalisé",
                    "Aucun signalement de matériovigilance en cours",
                    "Satisfaction du service recueillie",
                ],
                "documents": ["Compte rendu de bilan"],
                "required_fields": ["notes"],
            },
        ]
    },
}

CLINIQUE_PRIVEE: dict[str, Any] = {
    "name": "Clinique privée",
    "description": (
        "Cliniques privées : achat direct après essai et négociation avec la direction, sans marché "
        "public ; cycle plus court."
    ),
    "definition": {
        "phases": [
            {
                "key": "qualification",
                "name": "Qualification",
                "description": "Identifier le besoin, le décideur et le budget de la clinique.",
                "tasks": [
                    _task("Identifier le décideur (direction, praticien associé, acheteur)", 5, "high"),
                    _task("Vérifier l'appartenance à un groupe de cliniques et ses accords d'achat", 7),
                    _task("Recueillir le besoin et le volume annuel estimé", 10),
                ],
                "checklist": ["Besoin identifié", "Décideur identifié", "Budget connu"],
                "documents": ["Fiche établissement"],
                "required_fields": ["target_date", "contact_role:management"],
            },
            {
                "key": "presentation",
                "name": "Présentation",
                "description": "Démonstration auprès des praticiens et du bloc.",
                "tasks": [
                    _task("Organiser la démonstration auprès des praticiens", 7, "high"),
                    _task(
                        "Envoyer la documentation technique et la déclaration de conformité CE",
                        3,
                        role=REGULATORY,
                    ),
                ],
                "checklist": ["Démonstration réalisée", "Documentation technique remise"],
                "documents": ["Support de présentation"],
                "required_fields": ["contact_role:physician"],
            },
            {
                "key": "essai",
                "name": "Essai",
                "description": "Essai court du matériel dans le service.",
                "tasks": [
                    _task("Livrer le matériel d'essai", 5, role=TECHNICIAN),
                    _task("Former les utilisateurs au matériel d'essai", 7, role=TRAINER),
                    _task("Faire le bilan d'essai avec les praticiens", 21, "high"),
                ],
                "checklist": ["Matériel d'essai livré", "Avis favorable des praticiens"],
                "documents": ["Compte rendu d'essai"],
                "required_fields": ["document:Compte rendu d'essai"],
            },
            {
                "key": "negociation",
                "name": "Négociation",
                "description": "Devis, conditions commerciales et bon de commande.",
                "tasks": [
                    _task("Envoyer le devis", 3, "high"),
                    _task("Négocier les conditions avec la direction et les achats", 14, "high"),
                    _task("Obtenir le bon de commande signé", 21, "high"),
                ],
                "checklist": [
                    "Devis envoyé",
                    "Conditions de paiement convenues (60 jours ou 45 jours fin de mois)",
                    "Bon de commande signé",
                ],
                "documents": ["Devis signé", "Bon de commande"],
                "required_fields": ["contact_role:purchasing", "deal_won", "document:Bon de commande"],
            },
            {
                "key": "deploiement",
                "name": "Déploiement",
                "description": "Livraison et mise en service.",
                "tasks": [
                    _task("Planifier la livraison avec le bloc ou le service", 5),
                    _task("Livrer et installer les dispositifs", 14, "high", TECHNICIAN),
                    _task("Faire signer le procès-verbal de réception", 15, "high"),
                ],
                "checklist": ["Matériel livré", "Procès-verbal de réception signé"],
                "documents": ["Procès-verbal de réception"],
                "required_fields": ["document:Procès-verbal de réception"],
            },
            {
                "key": "formation",
                "name": "Formation",
                "description": "Formation des équipes utilisatrices.",
                "tasks": [
                    _task("Former les équipes utilisatrices", 10, "high", TRAINER),
                    _task("Transmettre les feuilles d'émargement", 12, role=TRAINER),
                ],
                "checklist": ["Équipes formées", "Référent désigné"],
                "documents": ["Feuilles d'émargement"],
                "required_fields": ["document:Feuilles d'émargement"],
            },
            {
                "key": "suivi",
                "name": "Suivi",
                "description": "Suivi de la satisfaction et des réassorts.",
                "tasks": [
                    _task("Appeler la clinique un mois après la mise en service", 30),
                    _task("Faire le point sur la consommation et les réassorts à trois mois", 90, "low"),
                ],
                "checklist": ["Satisfaction recueillie", "Aucun signalement de matériovigilance en cours"],
                "documents": [],
                "required_fields": ["notes"],
            },
        ]
    },
}

BUILTIN_TEMPLATES: tuple[dict[str, Any], ...] = (CENTRE_HOSPITALIER, CLINIQUE_PRIVEE)


def install_builtin_templates(db: Session) -> list[ProjectTemplate]:
    """Create the shipped templates that are missing (by name) as version 1; returns those created.
    Flushes, does not commit: the caller owns the transaction."""
    existing = set(db.scalars(select(ProjectTemplate.name)))
    created: list[ProjectTemplate] = []
    for data in BUILTIN_TEMPLATES:
        if data["name"] in existing:
            continue
        template = ProjectTemplate(name=data["name"], description=data["description"], current_version=1)
        db.add(template)
        db.flush()
        db.add(
            ProjectTemplateVersion(
                template_id=template.id, number=1, definition=parse_definition(data["definition"])
            )
        )
        audit.record(db, SYSTEM, "create", "project_template", template.id, {}, template.name)
        created.append(template)
    db.flush()
    return created

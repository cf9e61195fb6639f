"""Project templates: the two shipped templates, "Centre Hospitalier" and "Clinique privée"; built-in
roles get the permissions of the projects and project_templates modules.

A frozen copy of carnet.projects.library as it was when this migration was written: a migration
must give the same result whatever the application code becomes later. Each template is created
as version 1 unless a template of that name already exists.

Revision ID: 0062
Revises: 0061
Create Date: 2026-11-22 10:00:00
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0062"
down_revision: str | None = "0061"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
templates = sa.table(
    "project_templates",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("active", sa.Boolean),
    sa.column("current_version", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
versions = sa.table(
    "project_template_versions",
    sa.column("template_id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("definition", JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
projects = sa.table("projects", sa.column("template_id", sa.Integer))
roles = sa.table(
    "roles",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("builtin", sa.Boolean),
    sa.column("permissions", sa.JSON),
)
_MANAGE = [
    "project_templates:read",
    "project_templates:create",
    "project_templates:update",
    "project_templates:delete",
]
_PROJECTS = ["projects:read", "projects:create", "projects:update"]
GRANTS = {
    "admin": [
        *_MANAGE,
        "project_templates:export",
        "project_templates:admin",
        *_PROJECTS,
        "projects:delete",
        "projects:export",
        "projects:admin",
    ],
    "manager": [*_MANAGE, *_PROJECTS, "projects:delete", "projects:export"],
    "sales": ["project_templates:read", *_PROJECTS],
    "finance": ["project_templates:read", "projects:read"],
    "read-only": ["project_templates:read", "projects:read"],
}

# [{"name", "description", "definition"}], as carnet.projects.definition.parse_definition returns it.
TEMPLATES = json.loads(
    r"""
[
 {
  "name": "Centre Hospitalier",
  "description": "Établissements publics de santé (CHU, CH) : du premier contact au référencement par marché public, puis déploiement, formation des équipes et suivi.",
  "definition": {
   "phases": [
    {
     "key": "qualification",
     "name": "Qualification",
     "description": "Comprendre le besoin clinique, les interlocuteurs et le mode d'achat de l'établissement.",
     "tasks": [
      {
       "title": "Identifier les interlocuteurs clés (chef de service, pharmacien, ingénieur biomédical, acheteur)",
       "description": null,
       "due_days": 7,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Vérifier le GHT de rattachement et la centrale d'achat utilisée (UniHA, Resah, UGAP)",
       "description": null,
       "due_days": 10,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Recueillir le besoin clinique et le volume annuel estimé",
       "description": null,
       "due_days": 14,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Repérer les marchés en cours et leurs échéances (BOAMP, profil acheteur)",
       "description": null,
       "due_days": 14,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Administration des ventes"
       }
      }
     ],
     "checklist": [
      "Besoin clinique identifié",
      "Service utilisateur identifié",
      "Mode d'achat connu (marché en cours, MAPA, appel d'offres, centrale d'achat)",
      "Budget ou enveloppe d'investissement connu"
     ],
     "documents": [
      "Fiche établissement"
     ],
     "required_fields": [
      "target_date",
      "contact_role:head_of_department"
     ]
    },
    {
     "key": "presentation",
     "name": "Présentation",
     "description": "Présenter le dispositif au service, à la pharmacie (PUI) et au service biomédical.",
     "tasks": [
      {
       "title": "Organiser la présentation au staff médical du service",
       "description": null,
       "due_days": 7,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Présenter le dispositif à la pharmacie (PUI) et au service biomédical",
       "description": null,
       "due_days": 14,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Envoyer la documentation technique et la déclaration de conformité CE",
       "description": null,
       "due_days": 3,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Affaires réglementaires"
       }
      },
      {
       "title": "Rédiger le compte rendu de la présentation",
       "description": null,
       "due_days": 15,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Démonstration réalisée",
      "Documentation technique remise",
      "Questions du service traitées"
     ],
     "documents": [
      "Support de présentation",
      "Fiche technique et déclaration de conformité CE"
     ],
     "required_fields": [
      "contact_role:pharmacist",
      "contact_role:biomedical_engineer"
     ]
    },
    {
     "key": "essai_evaluation",
     "name": "Essai / Évaluation",
     "description": "Mise à disposition du matériel pour un essai encadré, puis bilan avec le service.",
     "tasks": [
      {
       "title": "Rédiger la convention de prêt pour essai",
       "description": null,
       "due_days": 5,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Livrer et installer le matériel d'essai",
       "description": null,
       "due_days": 10,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Technicien biomédical"
       }
      },
      {
       "title": "Former l'équipe soignante au matériel d'essai",
       "description": null,
       "due_days": 12,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      },
      {
       "title": "Recueillir les grilles d'évaluation des utilisateurs",
       "description": null,
       "due_days": 40,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Faire le bilan d'essai avec le chef de service et la pharmacie",
       "description": null,
       "due_days": 45,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Convention d'essai signée",
      "Matériel livré et installé",
      "Grilles d'évaluation recueillies",
      "Avis favorable du service"
     ],
     "documents": [
      "Convention de prêt pour essai",
      "Grille d'évaluation",
      "Compte rendu d'essai"
     ],
     "required_fields": [
      "contact_role:head_of_department",
      "document:Convention de prêt pour essai",
      "document:Compte rendu d'essai"
     ]
    },
    {
     "key": "referencement_appel_offres",
     "name": "Référencement / Appel d'offres",
     "description": "Référencement du produit et réponse à la consultation (MAPA ou appel d'offres selon le montant), jusqu'à la notification d'attribution.",
     "tasks": [
      {
       "title": "Surveiller la publication de la consultation (BOAMP, JOUE, profil acheteur)",
       "description": null,
       "due_days": 7,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Administration des ventes"
       }
      },
      {
       "title": "Retirer le DCE et analyser le règlement de consultation et le CCTP",
       "description": null,
       "due_days": 10,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Rédiger le mémoire technique",
       "description": null,
       "due_days": 21,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Rassembler les pièces administratives (DUME ou DC1/DC2, attestations fiscales et sociales, Kbis)",
       "description": null,
       "due_days": 21,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Administration des ventes"
       }
      },
      {
       "title": "Remettre l'offre sur le profil acheteur avant la date limite",
       "description": null,
       "due_days": 28,
       "priority": "urgent",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Demander le rapport d'analyse des offres après l'attribution",
       "description": null,
       "due_days": 75,
       "priority": "low",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "DCE retiré",
      "Questions posées à l'acheteur dans les délais",
      "Offre déposée avant la date limite",
      "Notification d'attribution reçue"
     ],
     "documents": [
      "Dossier de consultation (DCE)",
      "Mémoire technique",
      "Bordereau de prix unitaires",
      "Notification d'attribution"
     ],
     "required_fields": [
      "contact_role:purchasing",
      "deal_won",
      "document:Mémoire technique",
      "document:Notification d'attribution"
     ]
    },
    {
     "key": "deploiement",
     "name": "Déploiement",
     "description": "Commande, livraison et mise en service dans les unités de soins.",
     "tasks": [
      {
       "title": "Recevoir le bon de commande et le numéro d'engagement",
       "description": null,
       "due_days": 5,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Administration des ventes"
       }
      },
      {
       "title": "Vérifier les données de facturation Chorus Pro (SIRET de facturation, code service)",
       "description": null,
       "due_days": 7,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Administration des ventes"
       }
      },
      {
       "title": "Planifier la livraison avec le service biomédical",
       "description": null,
       "due_days": 10,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Livrer et installer les dispositifs",
       "description": null,
       "due_days": 30,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Technicien biomédical"
       }
      },
      {
       "title": "Faire signer le procès-verbal de réception",
       "description": null,
       "due_days": 35,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Bon de commande reçu",
      "SIRET de facturation et code service vérifiés",
      "Matériel livré",
      "Procès-verbal de réception signé"
     ],
     "documents": [
      "Bon de commande",
      "Procès-verbal de réception"
     ],
     "required_fields": [
      "contact_role:biomedical_engineer",
      "document:Bon de commande",
      "document:Procès-verbal de réception"
     ]
    },
    {
     "key": "formation",
     "name": "Formation",
     "description": "Formation des équipes soignantes et des référents, de jour comme de nuit.",
     "tasks": [
      {
       "title": "Planifier les sessions de formation avec le cadre de santé",
       "description": null,
       "due_days": 7,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      },
      {
       "title": "Former les équipes soignantes de jour et de nuit",
       "description": null,
       "due_days": 21,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      },
      {
       "title": "Former les référents et le service biomédical à la maintenance de premier niveau",
       "description": null,
       "due_days": 28,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Technicien biomédical"
       }
      },
      {
       "title": "Transmettre les feuilles d'émargement et les attestations de formation",
       "description": null,
       "due_days": 30,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      }
     ],
     "checklist": [
      "Sessions planifiées",
      "Équipes de jour formées",
      "Équipes de nuit formées",
      "Référents désignés"
     ],
     "documents": [
      "Feuilles d'émargement",
      "Attestations de formation"
     ],
     "required_fields": [
      "contact_role:nursing_manager",
      "document:Feuilles d'émargement"
     ]
    },
    {
     "key": "suivi",
     "name": "Suivi",
     "description": "Suivi de l'utilisation, de la satisfaction et préparation du renouvellement du marché.",
     "tasks": [
      {
       "title": "Appeler le service un mois après la mise en service",
       "description": null,
       "due_days": 30,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Faire le bilan d'utilisation à trois mois (consommation, incidents)",
       "description": null,
       "due_days": 90,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Préparer le renouvellement ou la révision de prix du marché",
       "description": null,
       "due_days": 300,
       "priority": "low",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Bilan à trois mois réalisé",
      "Aucun signalement de matériovigilance en cours",
      "Satisfaction du service recueillie"
     ],
     "documents": [
      "Compte rendu de bilan"
     ],
     "required_fields": [
      "notes"
     ]
    }
   ]
  }
 },
 {
  "name": "Clinique privée",
  "description": "Cliniques privées : achat direct après essai et négociation avec la direction, sans marché public ; cycle plus court.",
  "definition": {
   "phases": [
    {
     "key": "qualification",
     "name": "Qualification",
     "description": "Identifier le besoin, le décideur et le budget de la clinique.",
     "tasks": [
      {
       "title": "Identifier le décideur (direction, praticien associé, acheteur)",
       "description": null,
       "due_days": 5,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Vérifier l'appartenance à un groupe de cliniques et ses accords d'achat",
       "description": null,
       "due_days": 7,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Recueillir le besoin et le volume annuel estimé",
       "description": null,
       "due_days": 10,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Besoin identifié",
      "Décideur identifié",
      "Budget connu"
     ],
     "documents": [
      "Fiche établissement"
     ],
     "required_fields": [
      "target_date",
      "contact_role:management"
     ]
    },
    {
     "key": "presentation",
     "name": "Présentation",
     "description": "Démonstration auprès des praticiens et du bloc.",
     "tasks": [
      {
       "title": "Organiser la démonstration auprès des praticiens",
       "description": null,
       "due_days": 7,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Envoyer la documentation technique et la déclaration de conformité CE",
       "description": null,
       "due_days": 3,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Affaires réglementaires"
       }
      }
     ],
     "checklist": [
      "Démonstration réalisée",
      "Documentation technique remise"
     ],
     "documents": [
      "Support de présentation"
     ],
     "required_fields": [
      "contact_role:physician"
     ]
    },
    {
     "key": "essai",
     "name": "Essai",
     "description": "Essai court du matériel dans le service.",
     "tasks": [
      {
       "title": "Livrer le matériel d'essai",
       "description": null,
       "due_days": 5,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Technicien biomédical"
       }
      },
      {
       "title": "Former les utilisateurs au matériel d'essai",
       "description": null,
       "due_days": 7,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      },
      {
       "title": "Faire le bilan d'essai avec les praticiens",
       "description": null,
       "due_days": 21,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Matériel d'essai livré",
      "Avis favorable des praticiens"
     ],
     "documents": [
      "Compte rendu d'essai"
     ],
     "required_fields": [
      "document:Compte rendu d'essai"
     ]
    },
    {
     "key": "negociation",
     "name": "Négociation",
     "description": "Devis, conditions commerciales et bon de commande.",
     "tasks": [
      {
       "title": "Envoyer le devis",
       "description": null,
       "due_days": 3,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Négocier les conditions avec la direction et les achats",
       "description": null,
       "due_days": 14,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Obtenir le bon de commande signé",
       "description": null,
       "due_days": 21,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Devis envoyé",
      "Conditions de paiement convenues (60 jours ou 45 jours fin de mois)",
      "Bon de commande signé"
     ],
     "documents": [
      "Devis signé",
      "Bon de commande"
     ],
     "required_fields": [
      "contact_role:purchasing",
      "deal_won",
      "document:Bon de commande"
     ]
    },
    {
     "key": "deploiement",
     "name": "Déploiement",
     "description": "Livraison et mise en service.",
     "tasks": [
      {
       "title": "Planifier la livraison avec le bloc ou le service",
       "description": null,
       "due_days": 5,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Livrer et installer les dispositifs",
       "description": null,
       "due_days": 14,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Technicien biomédical"
       }
      },
      {
       "title": "Faire signer le procès-verbal de réception",
       "description": null,
       "due_days": 15,
       "priority": "high",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Matériel livré",
      "Procès-verbal de réception signé"
     ],
     "documents": [
      "Procès-verbal de réception"
     ],
     "required_fields": [
      "document:Procès-verbal de réception"
     ]
    },
    {
     "key": "formation",
     "name": "Formation",
     "description": "Formation des équipes utilisatrices.",
     "tasks": [
      {
       "title": "Former les équipes utilisatrices",
       "description": null,
       "due_days": 10,
       "priority": "high",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      },
      {
       "title": "Transmettre les feuilles d'émargement",
       "description": null,
       "due_days": 12,
       "priority": "normal",
       "assignee": {
        "type": "member_role",
        "role": "Formateur"
       }
      }
     ],
     "checklist": [
      "Équipes formées",
      "Référent désigné"
     ],
     "documents": [
      "Feuilles d'émargement"
     ],
     "required_fields": [
      "document:Feuilles d'émargement"
     ]
    },
    {
     "key": "suivi",
     "name": "Suivi",
     "description": "Suivi de la satisfaction et des réassorts.",
     "tasks": [
      {
       "title": "Appeler la clinique un mois après la mise en service",
       "description": null,
       "due_days": 30,
       "priority": "normal",
       "assignee": {
        "type": "owner"
       }
      },
      {
       "title": "Faire le point sur la consommation et les réassorts à trois mois",
       "description": null,
       "due_days": 90,
       "priority": "low",
       "assignee": {
        "type": "owner"
       }
      }
     ],
     "checklist": [
      "Satisfaction recueillie",
      "Aucun signalement de matériovigilance en cours"
     ],
     "documents": [],
     "required_fields": [
      "notes"
     ]
    }
   ]
  }
 }
]
"""
)


def upgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(
        sa.select(roles.c.id, roles.c.name, roles.c.permissions).where(roles.c.builtin.is_(True))
    ):
        extra = GRANTS.get(row.name)
        if not extra:
            continue
        current = list(row.permissions or [])
        merged = current + [p for p in extra if p not in current]
        if merged != current:
            conn.execute(sa.update(roles).where(roles.c.id == row.id).values(permissions=merged))
    now = datetime.now(UTC)
    for data in TEMPLATES:
        if conn.scalar(sa.select(templates.c.id).where(templates.c.name == data["name"])) is not None:
            continue
        conn.execute(
            templates.insert().values(
                name=data["name"],
                description=data["description"],
                active=True,
                current_version=1,
                created_at=now,
                updated_at=now,
            )
        )
        template_id = conn.scalar(sa.select(templates.c.id).where(templates.c.name == data["name"]))
        conn.execute(
            versions.insert().values(
                template_id=template_id, number=1, definition=data["definition"], created_at=now
            )
        )


def downgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.select(roles.c.id, roles.c.permissions).where(roles.c.builtin.is_(True))):
        current = list(row.permissions or [])
        kept = [p for p in current if not p.startswith(("project_templates:", "projects:"))]
        if kept != current:
            conn.execute(sa.update(roles).where(roles.c.id == row.id).values(permissions=kept))
    names = [data["name"] for data in TEMPLATES]
    unused = sa.select(templates.c.id).where(
        templates.c.name.in_(names), templates.c.id.not_in(sa.select(projects.c.template_id))
    )
    ids = list(conn.scalars(unused))
    if ids:
        conn.execute(versions.delete().where(versions.c.template_id.in_(ids)))
        conn.execute(templates.delete().where(templates.c.id.in_(ids)))

-- Identities (Letta's): the people or organisations behind agents and blocks, known by the
-- caller's own key (unique within a project), with typed properties. An identity is linked to
-- agents and blocks (identity_members.kind), and agents are listed by identity.
CREATE TABLE identities (
    id VARCHAR PRIMARY KEY,
    identifier_key VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    identity_type VARCHAR NOT NULL,
    project_id VARCHAR,
    properties JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE identity_members (
    identity_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (identity_id, kind, member_id)
);

"""Similar users, for the product backend (`similar_users`) and the command line (`distillery similar`)."""

import argparse
import sys

from pgvector.psycopg import register_vector

from assets.profile_embeddings import SimilarUser, nearest_users
from orchestration.wiring import built_resources
from resources.embedder import EmbedderResource
from resources.postgres import PostgresResource
from resources.sql import load


def similar_users(
    postgres: PostgresResource,
    embedder: EmbedderResource,
    user_id: str,
    k: int = 10,
    city: str | None = None,
) -> list[SimilarUser]:
    """The k users whose profiles are nearest `user_id`'s, in the serving model's space, most similar first.

    A profile that changed since its vector was stored is embedded now when the configured model is
    the serving one, so a just-distilled user is matched on what they are today. Raises LookupError
    for an unknown user or when no vector can stand for them, ValueError when their text is rejected.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    with postgres.connection() as conn:
        register_vector(conn)
        serving = conn.execute(load("embeddings/serving_model")).fetchone()
        if serving is None:
            raise LookupError("no embedding model serves yet: materialize profile_embeddings first")
        model_id, dimension = serving
        profile = conn.execute(load("embeddings/query_profile"), {"user_id": user_id, "model_id": model_id}).fetchone()
        if profile is None:
            raise LookupError(f"no profile for user {user_id!r}")
        version, text, vector_version, vector = profile
        if vector_version != version and embedder.model_id == model_id:
            fresh = embedder.embed([text])
            fresh.raise_for_rejections()
            vector = fresh.vectors[0]
        if vector is None:
            raise LookupError(f"user {user_id!r} has no {model_id} embedding yet: materialize profile_embeddings")
        return nearest_users(conn, model_id, dimension, vector, k, city=city, exclude=user_id)


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    similar = subparsers.add_parser("similar", help="the users most similar to a user, by profile embedding")
    similar.add_argument("user_id")
    similar.add_argument("--k", type=int, default=10, help="how many users (default 10)")
    similar.add_argument("--city", help="only users whose profile has this city")
    similar.set_defaults(handler=run_similar)


def run_similar(args: argparse.Namespace) -> int:
    try:
        with built_resources() as resources:
            found = similar_users(resources.postgres, resources.embedder, args.user_id, args.k, args.city)
    except (LookupError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    where = f" in {args.city}" if args.city else ""
    print(f"{len(found)} users most similar to {args.user_id}{where}:")
    for rank, user in enumerate(found, start=1):
        print(f"{rank:>4}  {user.user_id}  {user.similarity:.4f}")
    return 0

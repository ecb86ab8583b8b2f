"""The Telegram front end: python-telegram-bot 22 handlers over the question desk.

Handlers only translate between Telegram and the domain: the desk (bot/desk.py) answers,
remembers and indexes, in thread pools off the event loop; replies are rendered by
bot/telegram_html.py and sent by bot/telegram_replies.py, paced by bot/ratelimit.py; each
update is answered exactly once, across crashes too (bot/ledger.py).
``articlebot telegram`` runs it with long polling, or behind a webhook.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from index.ingest import ProgressFn
from index.readers import is_url

from . import prompts
from .desk import Access, Desk, upload_source
from .ledger import LedgerProcessor, LedgerQueue, UpdateLedger, keep_leases
from .listing import PAGE_SIZE, Listing, page_number
from .ratelimit import ChatPacedRateLimiter
from .settings import Settings
from .state import PollerRunning, hold_polling, open_state
from .telegram_dates import schedule_pruning, since_command, until_command
from .telegram_desk import (
    DeskThreads,
    access_of,
    desk_of,
    index_with_progress,
    jobs_of,
    queue_job,
    threads_of,
)
from .telegram_feeds import feed_command, feeds_command, schedule_polls
from .telegram_html import answer_html, articles_html, sources_html
from .telegram_posts import channel_post, forwarded_message
from .telegram_replies import (
    Draft,
    reply,
    say,
    send,
    typing,
    user_language,
)

logger = logging.getLogger(__name__)

UPLOAD_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
# The data of the button under a page of /articles: the next page, how many articles the
# listing counted when its first page was shown, and the id of the page's last article
# (bot/listing.py; buttons sent before the id was added have none).
ARTICLE_ID = r"[0-9a-f]{16}"  # index.types.article_id's form
ARTICLES_BUTTON = rf"^articles:[1-9][0-9]{{0,8}}:[0-9]{{1,12}}(:{ARTICLE_ID})?$"
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.CHANNEL_POST,
    Update.EDITED_CHANNEL_POST,
]

T = TypeVar("T")


class _AddressedToBot(filters.MessageFilter):
    """Private messages, and group messages that mention the bot or reply to it."""

    def filter(self, message: Message) -> bool:
        if message.chat.type == ChatType.PRIVATE:
            return True
        bot = message.get_bot()
        reply = message.reply_to_message
        if reply and reply.from_user and reply.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        mentions = {
            **message.parse_entities([MessageEntity.MENTION]),
            **message.parse_caption_entities([MessageEntity.MENTION]),
        }
        return any(value.lower() == mention for value in mentions.values())


ADDRESSED = _AddressedToBot()


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Answer a question with citations and a Sources button, within the user's quota.

    LLM answers are shown as they are written, then replaced by the checked answer.
    """
    desk = desk_of(context)
    wait = desk.wait_before_asking(update.effective_user.id)
    if wait:
        await reply(update, context, say(update, "tg_rate_limited", seconds=str(int(wait) + 1)))
        return
    chat_id = update.effective_chat.id
    draft = Draft(update, context, desk.settings.telegram_stream_edit_interval)
    on_text = draft.on_text if draft.interval > 0 else None
    async with typing(context, chat_id):
        job = threads_of(context).answering(desk.ask, chat_id, question, on_text)
        await draft.follow(job)
        answer, turn = job.result()
    button = None
    if answer.hits:
        label = prompts.text("sources", answer.lang)
        button = InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=f"sources:{turn}")]]
        )
    await draft.finish(answer_html(answer), button)


async def _answer_query(update: Update) -> None:
    """Stop the pressed button's spinner; best effort (Telegram refuses it for old queries)."""
    try:
        await update.callback_query.answer()
    except TelegramError as exc:
        logger.info("callback query not answered: %s", exc)


# ---- handlers -----------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turns away, once and politely, anyone the bot does not serve."""
    user, chat = update.effective_user, update.effective_chat
    access = access_of(context)
    if user is None or access.is_allowed(user.id, chat.id if chat else None):
        return
    if update.callback_query:
        await _answer_query(update)
    message = update.message
    addressed = update.callback_query or (
        message and (ADDRESSED.check_update(update) or (message.text or "").startswith("/"))
    )
    if addressed and chat and access.first_refusal(user.id):
        logger.info("refused user %s in chat %s", user.id, chat.id)
        await send(context, chat.id, say(update, "tg_not_allowed"))
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the user and says how to ask, in the user's language."""
    await reply(update, context, say(update, "tg_start"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the commands (and the admin ones to admins)."""
    text = say(update, "tg_help")
    if access_of(context).is_admin(update.effective_user.id):
        text += "\n\n" + say(update, "tg_help_admin")
    await reply(update, context, text)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers the question after /ask."""
    question = " ".join(context.args or [])
    if not question:
        await reply(update, context, say(update, "tg_ask_usage"))
        return
    await _answer(update, context, question)


async def question_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers a question sent as a plain message (in groups: a mention or a reply)."""
    question = _without_mention(update.effective_message.text, context.bot.username)
    if question:
        await _answer(update, context, question)


async def sources_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the full passages behind this chat's last answer."""
    answer = await threads_of(context).answering(desk_of(context).answer, update.effective_chat.id)
    await reply(update, context, sources_html(answer, user_language(update)))


async def sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Shows the full passages behind the answer whose Sources button was pressed."""
    query = update.callback_query
    await _answer_query(update)
    turn = int(query.data.partition(":")[2] or 0) or None
    chat_id = update.effective_chat.id
    answer = await threads_of(context).answering(desk_of(context).answer, chat_id, turn)
    await send(
        context,
        chat_id,
        sources_html(answer, user_language(update)),
        reply_to=query.message if isinstance(query.message, Message) else None,
    )


async def articles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists a page of the indexed articles, newest first (/articles N: the N-th page), with
    a button for the next."""
    page = page_number(" ".join(context.args or ()))
    if page is None:
        await reply(update, context, say(update, "articles_usage", size=str(PAGE_SIZE)))
        return
    listing = await threads_of(context).answering(desk_of(context).listing, page)
    lang = user_language(update)
    await reply(update, context, articles_html(listing, lang), _next_page(listing, lang))


async def articles_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Lists the page of articles whose button was pressed, with a button for the next."""
    await _answer_query(update)
    _, page, counted, *after = update.callback_query.data.split(":")
    desk = desk_of(context)
    listing = await threads_of(context).answering(
        desk.listing, int(page), int(counted), after[0] if after else None
    )
    lang = user_language(update)
    html = articles_html(listing, lang)
    await send(context, update.effective_chat.id, html, markup=_next_page(listing, lang))


def _next_page(listing: Listing, lang: str) -> InlineKeyboardMarkup | None:
    """The button under a page of articles that shows the next one, if there is one."""
    if listing.next_page is None:
        return None
    label = prompts.text("articles_more", lang)
    last = listing.articles[-1].id if listing.articles else ""
    # At most 45 of Telegram's 64 bytes; an id of another form than article_id's is left out.
    data = f"articles:{listing.next_page}:{listing.counted}"
    if re.fullmatch(ARTICLE_ID, last):
        data += f":{last}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])


async def reset_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forgets this chat's questions and answers."""
    await threads_of(context).answering(desk_of(context).forget, update.effective_chat.id)
    await reply(update, context, say(update, "tg_reset"))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Says that a command (a typo, often) is none of the bot's, and where they are listed."""
    command = update.effective_message.text.split(maxsplit=1)[0].split("@", 1)[0]
    await reply(update, context, say(update, "tg_unknown_command", command=command[:40]))


async def document_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes a document an admin sends, with a progress message; refuses anyone else."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_admin_only"))
        return
    desk = desk_of(context)
    document = update.effective_message.document
    name = Path(document.file_name or "upload.txt").name
    suffix = Path(name).suffix.lower()
    limit = min(DOWNLOAD_LIMIT, desk.settings.max_file_bytes)
    if suffix not in UPLOAD_SUFFIXES:
        await reply(update, context, say(update, "tg_file_type", suffix=suffix or name))
        return
    if document.file_size and document.file_size > limit:
        await reply(update, context, say(update, "tg_file_too_big", limit=str(limit >> 20)))
        return
    data = bytes(await (await document.get_file()).download_as_bytearray())
    if jobs_of(context) is not None:
        source = upload_source(name)
        await queue_job(update, context, name, lambda q, chat: q.add_file(data, name, source, chat))
        return
    await index_with_progress(
        update, context, name, lambda progress: desk.add_upload(data, name, progress)
    )


async def add_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Indexes the article at a URL, for admins."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_admin_only"))
        return
    url = (context.args or [""])[0]
    if not is_url(url):  # never a path: those name files on the bot's machine
        await reply(update, context, say(update, "tg_add_usage"))
        return
    if jobs_of(context) is not None:
        await queue_job(update, context, url, lambda queue, chat: queue.add_url(url, chat))
        return
    await index_with_progress(
        update, context, url, lambda progress: desk_of(context).add(url, progress)
    )


async def remove_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Removes an article by id, for admins."""
    if not access_of(context).is_admin(update.effective_user.id):
        await reply(update, context, say(update, "tg_admin_only"))
        return
    if not context.args:
        await reply(update, context, say(update, "tg_remove_usage"))
        return
    desk = desk_of(context)
    removal = await threads_of(context).indexing(desk.remove, context.args[0])
    if removal is None:
        await reply(update, context, say(update, "tg_no_article", id=context.args[0]))
        return
    count = str(desk.count())
    lines = [say(update, "tg_removed", title=removal.removed.title, count=count)]
    if removal.promoted:  # a copy of the story stays indexed in its place
        promoted = removal.promoted
        lines.append(say(update, "copy_promoted", title=promoted.title, id=promoted.id[:8]))
    await reply(update, context, "\n".join(lines))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the error with its context, then tells the user briefly that it went wrong.

    An error of no update is the polling's: the Bot API could not be reached, and the
    library tries again (a line each time, not a traceback)."""
    if update is None and isinstance(context.error, TelegramError) and _unreachable(context.error):
        logger.warning("cannot reach the Bot API (trying again): %s", context.error)
        return
    chat_id = user_id = None
    if isinstance(update, Update):
        chat_id = update.effective_chat.id if update.effective_chat else None
        user_id = update.effective_user.id if update.effective_user else None
    logger.error(
        "handling update %s (chat %s, user %s) failed",
        getattr(update, "update_id", None),
        chat_id,
        user_id,
        exc_info=context.error,
    )
    # Never a word in a channel: the bot only reads the channels it indexes.
    if (
        isinstance(update, Update)
        and chat_id is not None
        and update.effective_chat.type != ChatType.CHANNEL
    ):
        try:
            await send(context, chat_id, say(update, "tg_error"))
        except TelegramError as exc:
            logger.error("could not tell chat %s about the error: %s", chat_id, exc)


# ---- the application ----------------------------------------------------------------


def file_url(settings: Settings) -> str:
    """Where files are downloaded from: the setting, or derived from the API base URL."""
    if settings.telegram_api_file_url:
        return settings.telegram_api_file_url
    base = settings.telegram_api_base_url
    head, sep, tail = base.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else base.rstrip("/") + "/file/bot"


async def register_commands(application: Application) -> None:
    """Put the command menu in Telegram's UI, in every language the bot speaks."""
    for lang, commands in prompts.BOT_COMMANDS.items():
        await application.bot.set_my_commands(
            [BotCommand(name, description) for name, description in commands],
            language_code=None if lang == "en" else lang,
        )
    logger.info("running as @%s", application.bot.username)


async def start_up(application: Application) -> None:
    """Register the command menu; queue the updates a crash left unanswered, to go first;
    with replicas, keep this one's leases on its updates and take over a stopped one's."""
    await register_commands(application)
    replayed = application.update_queue.replay(application.bot)
    if replayed:
        logger.info("answering %d updates that arrived before the last stop", replayed)
    keep_leases(application)


def build_application(
    settings: Settings, desk: Desk, threads: DeskThreads, ledger: UpdateLedger
) -> Application:
    """The python-telegram-bot Application with every handler registered.

    Updates go through the ledger: recorded as they arrive, marked answered once handled.
    """
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url(settings))
        .rate_limiter(
            ChatPacedRateLimiter(settings.telegram_chat_interval, settings.telegram_max_retries)
        )
        .update_queue(LedgerQueue(ledger))
        .concurrent_updates(LedgerProcessor(ledger))
        .post_init(start_up)
        .build()
    )
    application.bot_data.update(desk=desk, threads=threads, access=Access(settings))
    private_or_addressed = filters.UpdateType.MESSAGE & ADDRESSED
    application.add_handlers(
        [
            CommandHandler("start", start),
            CommandHandler("help", help_command),
            CommandHandler("ask", ask_command),
            CommandHandler("sources", sources_command),
            CommandHandler("articles", articles_command),
            CommandHandler("since", since_command),
            CommandHandler("until", until_command),
            CommandHandler("reset", reset_command),
            CommandHandler("add", add_command),
            CommandHandler("remove", remove_command),
            CommandHandler("feed", feed_command),
            CommandHandler("feeds", feeds_command),
            CallbackQueryHandler(sources_button, pattern=r"^sources:"),
            CallbackQueryHandler(articles_button, pattern=ARTICLES_BUTTON),
            MessageHandler(filters.UpdateType.CHANNEL_POSTS, channel_post),
            MessageHandler(
                filters.UpdateType.MESSAGE
                & filters.ChatType.PRIVATE
                & filters.FORWARDED
                & ~filters.Document.ALL,
                forwarded_message,
            ),
            MessageHandler(
                private_or_addressed & filters.TEXT & ~filters.COMMAND, question_message
            ),
            MessageHandler(private_or_addressed & filters.Document.ALL, document_message),
            # After the commands above: in a group, a command may be another bot's.
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.COMMAND,
                unknown_command,
            ),
        ]
    )
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_error_handler(on_error)
    schedule_polls(application, settings.feed_interval)
    schedule_pruning(application, settings.retention_days)
    return application


class _BootstrapFailure(logging.Filter):
    """Drops python-telegram-bot's log of a failed start, traceback and all, unless -v:
    ``run`` says what failed in one line that says what to fix (``start_failure``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        failed_start = record.levelno >= logging.ERROR and record.getMessage().startswith(
            "Network Retry Loop (Bootstrap"
        )
        return not failed_start or logging.getLogger().isEnabledFor(logging.DEBUG)


def _quiet_logs() -> None:
    """Log what the bot does (INFO) even without -v, but not httpx's line a request.

    Secrets are redacted from every log line and from stderr (bot/redaction.py, set up by
    the command line).
    """
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("bot").setLevel(logging.INFO)  # the desk's, the ledger's, ours
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("telegram.ext").addFilter(_BootstrapFailure())


def start_failure(exc: TelegramError, settings: Settings) -> str:
    """What kept the bot from starting (its first calls to the Bot API failed), in one line
    that says what to fix."""
    api = settings.telegram_api_base_url
    if isinstance(exc, InvalidToken):
        # "The token `…` was rejected": the server's own words are in the cause.
        reason = exc.__cause__ if isinstance(exc.__cause__, TelegramError) else exc
        return (
            f"the Bot API at {api} refused the bot token ({reason}): set TELEGRAM_BOT_TOKEN "
            "to the token @BotFather gave the bot"
        )
    if _unreachable(exc):
        return (
            f"cannot reach the Bot API at {api} ({exc}): check the network connection, "
            "or TELEGRAM_API_BASE_URL"
        )
    return f"the Bot API at {api} refused to start the bot ({exc}): check the TELEGRAM_ settings"


def _unreachable(exc: TelegramError) -> bool:
    """A network error or no answer (python-telegram-bot counts a 400 as a network error)."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=["polling", "webhook"],
        help="long polling or a webhook (default: TELEGRAM_MODE, else polling)",
    )


def _seeding_logged() -> ProgressFn:
    """Progress of indexing the bundled sample on a first run: a log line, not a bar."""
    logger.info("indexing the bundled sample article (first run only)")
    return lambda done, total: None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """run the Telegram bot (long polling, or a webhook)"""
    from .core import build_answerer, open_feeds, open_jobs, open_store

    if settings.telegram_bot_token is None:
        print("articlebot: set TELEGRAM_BOT_TOKEN to the token from @BotFather", file=sys.stderr)
        return 2
    mode = args.mode or settings.telegram_mode
    if mode == "webhook" and not (
        settings.telegram_webhook_url and settings.telegram_webhook_secret
    ):
        print(
            "articlebot: webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET",
            file=sys.stderr,
        )
        return 2
    _quiet_logs()
    try:
        poller = hold_polling(settings) if mode == "polling" else None
    except PollerRunning as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 2
    store = open_store(settings, seed=True, progress=_seeding_logged)
    state = open_state(settings)
    answerer = build_answerer(settings, store)
    desk = Desk(settings, store, answerer, state.chats, state.quota, open_feeds(settings))
    threads = DeskThreads(settings.telegram_workers)
    application = build_application(settings, desk, threads, state.ledger)
    jobs = open_jobs(settings) if settings.queues_ingestion else None
    application.bot_data["jobs"] = jobs
    logger.info(
        "%d articles indexed; starting in %s mode; uploads and /add %s",
        len(store),
        mode,
        "are queued for `articlebot worker`s" if jobs else "are indexed here",
    )
    # No bootstrap retries: the rate limiter retries each call already (network errors with
    # backoff, 429s), TELEGRAM_MAX_RETRIES times; retrying on top would square the tries.
    try:
        if mode == "webhook":
            application.run_webhook(
                listen=settings.telegram_webhook_listen,
                port=settings.telegram_webhook_port,
                url_path=urlparse(settings.telegram_webhook_url).path.lstrip("/"),
                webhook_url=settings.telegram_webhook_url,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=0,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES, bootstrap_retries=0)
    except TelegramError as exc:  # once started, the bot retries and logs what fails
        print(f"articlebot: {start_failure(exc, settings)}", file=sys.stderr)
        return 1 if _unreachable(exc) else 2  # 1: trying again later may work
    except OSError as exc:
        if mode != "webhook":
            raise
        where = f"{settings.telegram_webhook_listen}:{settings.telegram_webhook_port}"
        print(
            f"articlebot: cannot listen for the webhook on {where} ({exc.strerror or exc}): "
            "set TELEGRAM_WEBHOOK_PORT to a port free on this machine",
            file=sys.stderr,
        )
        return 2
    finally:
        threads.close()
        desk.close()
        state.ledger.close()
        if poller:
            poller.close()
        if jobs:
            jobs.close()
    logger.info("stopped")
    return 0


COMMAND = (add_arguments, run)

"""pytest configuration for amifs.

Fixtures live in plugin modules beside this file so that separate parts of the
suite can grow without editing one shared file:
  shared_fixtures.py    what several test files share (helpers, `images`)
  endpoint_fixtures.py  the local AWS endpoint (moto + our VM Import layer)
  mount_fixtures.py     mounting amifs against it
  fuzz_background.py    the libFuzzer targets, fuzzing while the rest runs
  parallel_fixtures.py  pytest-xdist workers: what runs once, groups, order
No test module imports another test module.

Default run and full run. `pytest --full` (what `tests/run.sh --full`
passes) or AMIFS_FULL=1 in the environment also runs the long variants:
tests marked `@pytest.mark.full` (skipped otherwise, with the reason), and
tests that read shared_fixtures.full_run() to pick a longer sweep.
--full sets AMIFS_FULL=1 for this process and the pytest runs it starts,
so the environment variable is the one switch tests read. The default run keeps
every behaviour covered with shorter variants; CI runs the default.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

pytest_plugins = [
    m for m in ("parallel_fixtures", "audit_fixtures", "endpoint_fixtures",
               "mount_fixtures", "shared_fixtures", "fuzz_background")
    if os.path.exists(os.path.join(os.path.dirname(__file__), m + ".py"))
]


def pytest_addoption(parser):
    parser.addoption(
        "--full", action="store_true", default=False,
        help="also run the long sweeps, long fuzzing and big-object tests "
             "(same as AMIFS_FULL=1)")


def pytest_configure(config):
    if config.getoption("full"):
        os.environ["AMIFS_FULL"] = "1"
    config.addinivalue_line(
        "markers", "full: long variant, run only with --full / AMIFS_FULL=1")


# The default run (tests/run.sh, CI) must stay under 15 minutes on a
# 2-core box, so it keeps at least one test of every capability and leaves
# these to --full: variants of a behaviour another default test already
# proves, and the slowest sweeps. {test file: test functions}.
FULL_ONLY = {
    "test_amis.py": {
        "test_copy_to_other_region", "test_rm_r_keeps_a_snapshot_another_ami_uses",
        "test_listing_cache_and_regions_view",
        "test_editors_rename_a_temporary_onto_a_tag",
        "test_a_bad_account_id_fails_the_write_and_changes_nothing",
        "test_launch_permissions_are_bounded_and_applied_in_batches"},
    "test_aws_ops.py": {
        "test_sts_assume_role_with_explicit_source", "test_regions_match_cli",
        "test_s3_upload_example", "test_special_keys",
        "test_listing_2500_keys_paginated", "test_copy_delete",
        "test_upload_under_faults", "test_upload_every_part_failing",
        "test_import_poll_example", "test_form_values_with_spaces",
        "test_iam_role_round_trip", "test_s3_ls_example",
        "test_import_snapshot", "test_cancel_import"},
    "test_buckets.py": {
        "test_ls_l_of_2500_keys_is_one_listing",
        "test_cat_bigger_than_read_ahead_window", "test_random_reads",
        "test_gio_copy", "test_replace_by_rename_while_open",
        "test_mv_directory_and_across_buckets_fall_back",
        "test_endpoint_down_mid_cp_fails_and_leaves_no_upload",
        "test_ls_and_stat_stay_fast_during_big_cp",
        "test_children_of_a_redirected_group_do_not_end_the_upload",
        "test_shell_builtins_between_dups_of_the_fd"},
    "test_credentials.py": {
        "test_web_identity_profile_keys",
        "test_web_identity_through_the_endpoints_sts",
        "test_env_keys_beat_web_identity_which_beats_the_credentials_file",
        "test_container_full_uri_with_token_file",
        "test_config_file_keys_beat_the_container", "test_sso_profile",
        "test_hung_process_times_out_without_freezing_requests"},
    "test_doctor.py": {"test_role_policy_on_another_bucket",
                       "test_bucket_in_another_region"},
    "test_endpoint.py": {
        "test_describe_filters_pagination_cancel", "test_import_snapshot",
        "test_bad_images_end_deleted", "test_regions",
        "test_client_token_idempotency", "test_policy_is_enforced",
        "test_s3_odd_keys_and_delimiter", "test_s3_integrity_checks",
        "test_faults_fire_and_clis_retry",
        "test_hold_and_answer_lost_through_the_cli"},
    "test_faults.py": {"test_uploads_survive_a_flaky_endpoint",
                       "test_sigkill_in_imports_then_next_mount_aborts_the_upload"},
    "test_imports.py": {
        "test_refusal_comes_before_the_end_of_a_big_copy",
        "test_cp_p_and_install", "test_part_file_renamed_to_final_name",
        "test_temp_name_whose_content_is_another_kind", "test_gio_copy",
        "test_imported_file_is_read_only_and_reads_the_staged_object",
        "test_cleanup_deletes_the_staged_object_after_success",
        "test_dd_and_touch_of_nothing_fail_but_a_second_open_writes",
        "test_empty_temporary_file_stays_until_written_or_removed",
        "test_children_closing_the_fd_do_not_end_the_upload",
        "test_rename_refused_by_validation_leaves_no_staged_object",
        "test_shell_redirection_and_dd"},
    "test_journal.py": {"test_untrusted_journal_dir_is_refused"},
    "test_names.py": {"test_oversized_sidecar_leaves_nothing",
                      "test_allow_other_without_umask_keeps_others_out"},
    "test_regions.py": {"test_copy_is_followed_under_region_amis",
                        "test_mounted_region_view_matches_tasks"},
    "test_sanitized_daemon.py": {"*"},
    "test_saywhy.py": {"test_lazy_checks_mounts_without_asking",
                       "test_endpoint_down_says_so"},
    "test_security.py": {"test_temporary_credentials_never_logged",
                         "test_self_signed_endpoint_is_refused",
                         "test_allow_other_lets_others_look_but_not_write"},
    "test_tasks.py": {"test_task_started_with_the_aws_cli_appears",
                      "test_readers_share_one_poller",
                      "test_diagnosis_of_each_refusal_names_its_cause",
                      "test_a_remount_does_not_tag_the_ami_again"},
    "test_writers.py": {"test_killed_shell_redirect_keeps_the_old_object",
                        "test_threads_writing_out_of_order",
                        "test_write_behind_the_window_fails_with_the_alternative",
                        "test_rm_during_a_completing_close",
                        "test_killed_writer_into_imports_is_cancelled",
                        "test_refused_write_poisons_an_import"},
}


def full_only(item):
    names = FULL_ONLY.get(os.path.basename(str(item.fspath)), ())
    return "*" in names or getattr(item, "originalname", item.name) in names


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AMIFS_FULL", "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="long variant: run with --full "
                                   "(tests/run.sh --full or AMIFS_FULL=1)")
    kept, dropped = [], []
    for item in items:
        (dropped if full_only(item) else kept).append(item)
        if item.get_closest_marker("full"):
            item.add_marker(skip)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

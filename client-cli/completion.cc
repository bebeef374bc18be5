#include "client-cli/completion.h"

namespace weft::cli {

std::string BashCompletionScript() {
  // COMP_WORDBREAKS usually holds ':' and '=', so "--target=127.0.0.1:7070" arrives as five
  // words; the loop skipping a flag's value also skips a '=' before it and ": PORT" after it.
  return R"BASH(# bash completion for weftctl. Load it with:  source <(weftctl completion bash)
_weftctl_server_names() {
  local -a line args=()
  local i
  read -ra line <<< "$COMP_LINE"
  for ((i = 1; i < ${#line[@]}; i++)); do
    case "${line[i]}" in
      --target|--token-file|--tls-ca|--tls-cert|--tls-key)
        args+=("${line[i]}" "${line[i+1]}"); ((i++)) ;;
      --target=*|--token-file=*|--tls-ca=*|--tls-cert=*|--tls-key=*)
        args+=("${line[i]}") ;;
    esac
  done
  "${COMP_WORDS[0]}" "${args[@]}" --timeout 2s servers 2>/dev/null |
    awk 'NR == 1 { col = ($1 == "TARGET") ? 2 : 1; next } { print $col }' | sort -u
}

_weftctl() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="servers status server run stop stop-accepting stop-tasks drain tasks task limits watch top health process audit completion help"
  local globals="--target --token-file --tls-ca --tls-cert --tls-key --timeout --output --help"
  COMPREPLY=()
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json" -- "$cur")); return ;;
    --token-file|--tls-ca|--tls-cert|--tls-key) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -W "running queued stopping" -- "$cur")); return ;;
    --order-by) COMPREPLY=($(compgen -W "id idle idle-desc age age-desc" -- "$cur")); return ;;
    --target|--timeout|--drain|--older-than|--idle-than|--interval|--max-connections|--limit) return ;;
    --peer|--idle-over|--age-over|--min-bytes|--max-bytes|--max) return ;;
  esac
  local -a words=()
  local i skip=0 w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if ((skip > 0)); then
      ((skip--))
      [[ "$w" == "=" ]] && skip=1
      ((skip == 0)) && [[ "${COMP_WORDS[i+1]}" == ":" ]] && skip=2
      continue
    fi
    case "$w" in
      --target|--token-file|--tls-ca|--tls-cert|--tls-key|--timeout|--output|-o|--drain|--older-than|--idle-than|--max-connections|--interval|--limit) skip=1 ;;
      --state|--peer|--idle-over|--age-over|--min-bytes|--max-bytes|--order-by|--max) skip=1 ;;
      -*) ;;
      *) words+=("$w") ;;
    esac
  done
  local command="${words[0]}"
  [[ "$command" == task ]] && command="task ${words[1]}"
  if [[ "$cur" == -* ]]; then
    local own=""
    case "$command" in
      stop) own="--drain" ;;
      tasks) own="--older-than --idle-than --state --peer --idle-over --age-over --min-bytes --max-bytes --stuck --order-by" ;;
      stop-tasks) own="--state --peer --idle-over --age-over --min-bytes --max-bytes --stuck --dry-run --max --timeout --yes" ;;
      drain) own="--timeout" ;;
      "task stop") own="--timeout" ;;
      limits) own="--max-connections" ;;
      top) own="--interval" ;;
      audit) own="--limit" ;;
    esac
    COMPREPLY=($(compgen -W "$globals $own" -- "$cur"))
    return
  fi
  local n=${#words[@]}
  case "${words[0]}" in
    "") COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
    task)
      if ((n == 1)); then COMPREPLY=($(compgen -W "stop remove" -- "$cur"))
      elif ((n == 2)); then COMPREPLY=($(compgen -W "$(_weftctl_server_names)" -- "$cur")); fi ;;
    completion) ((n == 1)) && COMPREPLY=($(compgen -W "bash" -- "$cur")) ;;
    help) ((n == 1)) && COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
    server|run|stop|stop-accepting|stop-tasks|drain|tasks|limits|watch|health)
      ((n == 1)) && COMPREPLY=($(compgen -W "$(_weftctl_server_names)" -- "$cur")) ;;
  esac
}
complete -F _weftctl weftctl
)BASH";
}

}  // namespace weft::cli

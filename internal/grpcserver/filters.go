package grpcserver

import (
	"context"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The word-list RPCs of ModerationService. An entry is added in the calling moderator's name; an
// email or single IP address is hashed by the domain before anything is stored, and only its
// masked form is ever returned.

func (s *moderationServer) CreateFilter(ctx context.Context, r *commentdv1.CreateFilterRequest) (*commentdv1.CreateFilterResponse, error) {
	if s.spam.Filters == nil {
		return nil, errSpamOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	f := r.GetFilter()
	if f == nil {
		return nil, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "filter", Description: "required: list, kind and value"}}}
	}
	list := filterListFromProto(f.GetList())
	if list == spam.FilterListAny {
		list = spam.FilterList(-1) // unset is "any" only in queries
	}
	stored, _, err := s.spam.Filters.Create(ctx, caller.Name, list, filterKindFromProto(f.GetKind()), f.GetValue())
	if err != nil {
		return nil, err
	}
	// The store recorded a new entry in the audit log in the step that stored it; an entry that
	// existed changed nothing and recorded nothing (spam.FilterStore).
	return &commentdv1.CreateFilterResponse{Filter: filterToProto(stored)}, nil
}

func (s *moderationServer) ListFilters(ctx context.Context, r *commentdv1.ListFiltersRequest) (*commentdv1.ListFiltersResponse, error) {
	if s.spam.Filters == nil {
		return nil, errSpamOff
	}
	fs, next, err := s.spam.Filters.List(ctx, filterListFromProto(r.GetList()), comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &commentdv1.ListFiltersResponse{Filters: filtersToProto(fs), NextPageToken: next}, nil
}

func (s *moderationServer) DeleteFilter(ctx context.Context, r *commentdv1.DeleteFilterRequest) (*commentdv1.DeleteFilterResponse, error) {
	if s.spam.Filters == nil {
		return nil, errSpamOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	id, err := spam.ParseFilterID("name", r.GetName())
	if err != nil {
		return nil, err
	}
	// Recorded in the audit log by the store, in the step that removes the entry.
	if err := s.spam.Filters.Delete(ctx, caller.Name, id); err != nil {
		return nil, err
	}
	return &commentdv1.DeleteFilterResponse{}, nil
}
